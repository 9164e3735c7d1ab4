"""pytest set-up shared by tests/ and the docstring examples of fomm_nb/ (doctests)."""

import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _doctests_run_in_a_temporary_folder(request, monkeypatch):
    """Docstring examples may write files (``write_video("clip.mp4", ...)``): they do it in a fresh folder."""
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(request.getfixturevalue("tmp_path"))
