"""The packaging files agree with each other: pyproject.toml, environment.yml, the CI script."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names for the PyPI packages whose names differ.
CONDA_NAMES = {"torch": "pytorch", "opencv-python-headless": "py-opencv", "matplotlib": "matplotlib-base"}


def requirement_name(spec):
    return re.split(r"[<>=!\[ ]", spec, maxsplit=1)[0].lower()


def test_environment_yml_has_every_runtime_and_notebook_dependency():
    rattler = pytest.importorskip("rattler")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_specs = [spec for spec in environment["dependencies"] if isinstance(spec, str)]
    conda_names = {rattler.MatchSpec(spec).name.normalized for spec in conda_specs}  # each spec parses
    wanted = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    for spec in wanted:
        name = requirement_name(spec)
        assert CONDA_NAMES.get(name, name) in conda_names, f"{name} is missing from environment.yml"
    pip_section = next(item for item in environment["dependencies"] if isinstance(item, dict))["pip"]
    assert "-e ." in pip_section


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in ci and "set -euo pipefail" in ci
