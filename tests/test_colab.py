"""Colab: one install cell in every notebook, installing from the repository named in pyproject.toml.

The cell is run here with ``google.colab`` simulated (a stand-in package on
``sys.path``: the environment, not the code under test). Its ``git clone``
really runs, redirected by git's own ``url.<base>.insteadOf`` setting from
the repository URL to this checkout; its ``pip install`` is recorded, not run
(it would reinstall this virtual environment).
"""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fomm_nb import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FAKE_COLAB = '''
calls = []


class output:
    @staticmethod
    def enable_custom_widget_manager():
        calls.append("enable_custom_widget_manager")
'''


def pyproject_repository():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def code_cells(path):
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def test_the_repository_is_pyprojects():
    assert colab.repository_url() == pyproject_repository()
    assert pyproject_repository() in colab.install_cell()
    assert colab.badge_url("notebooks/x.ipynb").startswith(
        "https://colab.research.google.com/github/" + pyproject_repository().removeprefix("https://github.com/"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_starts_with_the_install_cell(path):
    assert code_cells(path)[0] == colab.install_cell(), f"{path.name}: run 'python -m fomm_nb.colab' to sync it"
    text = path.read_text()
    if "colab-badge.svg" in text:
        assert colab.badge_url(f"notebooks/{path.name}") in text, f"{path.name}: its Colab badge links elsewhere"


def test_the_notebooks_of_the_extra_cover_the_colab_packages():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["notebooks"]
    assert [package for package in colab.COLAB_PACKAGES if package != "scikit-video"] == \
        [package for package in extra if package in colab.COLAB_PACKAGES]


def test_the_try_it_notebook_has_the_badge():
    assert colab.badge("notebooks/01_try_it_yourself.ipynb") in (ROOT / "notebooks/01_try_it_yourself.ipynb").read_text()


@pytest.fixture
def in_colab(tmp_path, monkeypatch):
    """``google.colab`` importable (a stand-in), and the cell's working folder ``tmp_path / "content"``."""
    package = tmp_path / "fake-site" / "google" / "colab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_COLAB)
    monkeypatch.syspath_prepend(str(tmp_path / "fake-site"))
    for name in [name for name in sys.modules if name == "google" or name.startswith("google.")]:
        monkeypatch.delitem(sys.modules, name)
    import google.colab

    content = tmp_path / "content"
    content.mkdir()
    monkeypatch.chdir(content)
    yield google.colab
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def test_the_cell_clones_the_repository_and_installs_it_in_colab(in_colab, monkeypatch):
    real_run, pip_commands = subprocess.run, []

    def run(command, **kwargs):
        if command[:3] == [sys.executable, "-m", "pip"]:
            pip_commands.append(command)
            return subprocess.CompletedProcess(command, 0)
        return real_run(command, **kwargs)

    # git fetches this checkout wherever the cell asks for the repository's URL
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.file://{ROOT}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", pyproject_repository())
    monkeypatch.setattr(subprocess, "run", run)
    exec(compile(colab.install_cell(), "install-cell", "exec"), {})
    clone = Path("fomm-nb").resolve()
    assert (clone / "pyproject.toml").is_file() and (clone / "fomm_nb" / "__init__.py").is_file()
    assert pip_commands == [[sys.executable, "-m", "pip", "install", "-q", "-e", "fomm-nb", *colab.COLAB_PACKAGES]]
    assert sys.path[0] == str(clone) and in_colab.calls == ["enable_custom_widget_manager"]


def test_the_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: pytest.fail(f"ran {args}"))
    monkeypatch.chdir(tmp_path)
    path = list(sys.path)
    exec(compile(colab.install_cell(), "install-cell", "exec"), {})
    assert sys.path == path and list(tmp_path.iterdir()) == []


def test_sync_rewrites_only_the_install_cell(tmp_path):
    notebook = json.loads((ROOT / "notebooks/01_try_it_yourself.ipynb").read_text())
    cell = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    cell["source"] = [colab.MARKER + "\nprint('an old install cell')\n"]
    (tmp_path / "old.ipynb").write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    assert colab.sync_notebooks(tmp_path) == [tmp_path / "old.ipynb"]
    synced = json.loads((tmp_path / "old.ipynb").read_text())
    assert "".join(synced["cells"][1]["source"]) == colab.install_cell()
    assert synced["cells"][2:] == notebook["cells"][2:] and synced["cells"][0] == notebook["cells"][0]
    assert colab.sync_notebooks(tmp_path) == []
