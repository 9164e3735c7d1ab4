"""Files in and out: checks before reading or writing, and writes that appear whole or not at all.

Every writer of :mod:`fomm_nb.media` writes to a hidden temporary file
beside its target and renames it over the target only when it is complete
(:func:`replacing`): on an error or an interrupt the temporary file is
deleted and an existing file at the target is left as it was.

Example:
    >>> with replacing(Path("notes.txt")) as temporary:
    ...     _ = temporary.write_text("complete")
    >>> Path("notes.txt").read_text()
    'complete'
"""

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import MediaError

__all__ = ["check_file", "check_target", "temporary_beside", "replacing"]


def check_file(path: Path, what: str) -> None:
    """Raise :class:`~fomm_nb.errors.MediaError` unless ``path`` is a non-empty file.

    ``what`` names the expected content in the message (``"an image"``).

    Example:
        >>> check_file(Path("missing.png"), "an image")
        Traceback (most recent call last):
        fomm_nb.errors.MediaError: missing.png: no such file
    """
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not {what}")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")


def check_target(path: Path) -> None:
    """Raise :class:`~fomm_nb.errors.MediaError` unless a file can be written at ``path``.

    Example:
        >>> check_target(Path("no-such-folder/clip.mp4"))
        Traceback (most recent call last):
        fomm_nb.errors.MediaError: no-such-folder/clip.mp4: the folder no-such-folder does not exist
    """
    if path.is_dir():
        raise MediaError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise MediaError(f"{path}: the folder {path.parent} does not exist")


def temporary_beside(path: Path) -> Path:
    """A fresh hidden name beside ``path`` that keeps its suffix (``.clip.1a2b3c4d.part.mp4``)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``path``, on any exception it is deleted."""
    temporary = temporary_beside(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
