"""The notebooks run headless without errors, quickly, offline; and they are stored clean.

Each notebook runs in a kernel of this Python (see ``notebook_kernel``) with
``FOMM_NB_FAST=1``, which the notebooks read to do less work (fewer frames,
fewer training steps) in the same cells.
"""

import re
import time
from pathlib import Path

import nbformat
import pytest

from notebook_kernel import this_python_kernel

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.rglob("*.ipynb"))
TIME_LIMIT = 180  # seconds per notebook, on a 2-core CPU
MAX_CELL_LINES = 16  # "cells of ~15 lines or less"
STRIP_COMMAND = ".venv/bin/python scripts/strip-notebooks.py"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _name(path):
    return str(path.relative_to(NOTEBOOK_DIR))


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    with this_python_kernel(tmp_path_factory.mktemp("jupyter")) as name:
        yield name


def test_the_five_notebooks_exist():
    names = [path.name for path in NOTEBOOKS]
    for expected in ("01_try_it_yourself", "02_the_math", "03_keypoint_explorer", "04_motion_transfer_sliders",
                     "05_train_your_own", "06_motion_as_data", "08_why_first_order"):
        assert f"{expected}.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_runs_headless(path, kernel_name, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("FOMM_NB_FAST", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=TIME_LIMIT, kernel_name=kernel_name, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    print(f"{_name(path)}: {seconds:.1f} s")

    errors = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                trace = ANSI.sub("", "\n".join(output.traceback[-3:]))
                errors.append(f"cell {index} ({cell.source.splitlines()[0]!r}): {output.ename}: {output.evalue}\n{trace}")
    assert not errors, f"{_name(path)}:\n" + "\n\n".join(errors)
    assert all(cell.execution_count for cell in _code_cells(notebook)), "some code cells did not run"
    assert seconds < TIME_LIMIT, f"{_name(path)} took {seconds:.0f} s (limit {TIME_LIMIT} s)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{_name(path)}: cells {dirty} have outputs or execution counts; strip them: {STRIP_COMMAND}"
    assert "widgets" not in notebook.metadata, f"{_name(path)} stores widget state; strip it: {STRIP_COMMAND}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_name)
def test_notebook_is_thin_and_only_its_first_cell_knows_colab(path):
    cells = _code_cells(nbformat.read(path, as_version=4))
    app_page = path.parent.name == "apps"  # a page for students (fomm-nb serve): the app, no Colab at all
    assert app_page or "google.colab" in cells[0].source, f"{_name(path)}: the first code cell installs fomm-nb in Colab"
    knowing = [index for index, cell in enumerate(cells) if (index or app_page) and "colab" in cell.source.lower()]
    assert not knowing, f"{_name(path)}: code cells {knowing} mention Colab; only the first may"
    long = [index for index, cell in enumerate(cells) if len(cell.source.splitlines()) > MAX_CELL_LINES]
    assert not long, f"{_name(path)}: code cells {long} are longer than {MAX_CELL_LINES} lines: move logic into fomm_nb"
