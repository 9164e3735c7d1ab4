#!/usr/bin/env python3
"""Strip outputs, execution counts and saved widget state from notebooks, in place.

    .venv/bin/python scripts/strip-notebooks.py                 # every notebook under notebooks/
    .venv/bin/python scripts/strip-notebooks.py path/to/a.ipynb

The notebooks are committed clean (tests/test_notebooks.py checks it).
"""

import sys
from pathlib import Path

import nbformat


def strip(path):
    """Clean one notebook; returns True when it changed."""
    notebook = nbformat.read(path, as_version=4)
    before = nbformat.writes(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
    notebook.metadata.pop("widgets", None)
    after = nbformat.writes(notebook)
    if after != before:
        Path(path).write_text(after)
    return after != before


def main(paths):
    root = Path(__file__).resolve().parents[1]
    for path in paths or sorted((root / "notebooks").rglob("*.ipynb")):
        if strip(path):
            print(f"stripped {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
