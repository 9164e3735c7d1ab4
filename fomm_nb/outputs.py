"""Output paths, checked before any work: no run ever writes over its own inputs.

Every entry point that writes files (``animate_files``, the demo, the ONNX
export, training, ``fomm-nb evaluate --json``) describes what it will write
as :class:`Output` objects and calls :func:`check_outputs` first, before a
model is loaded or a frame is read. A problem is one
:class:`~fomm_nb.errors.OutputError` line that names the option and the path:

* an output that is an input (the same file by another name: a symlink,
  ``..``, another case on a case-insensitive disk), or that lies inside an
  input folder (a folder of driving frames, a training data set);
* two outputs that are one file (``--out a.mp4 --side-by-side a.mp4``);
* an output file that is an existing folder, whose folder is missing or not
  writable, or whose extension its writer cannot write;
* an output folder that is an existing file, or that cannot be created.

An output file that exists already is allowed: the writers replace it in one
step when the new file is complete, so a failed run leaves it as it was.

Example:
    >>> Path("talk.mp4").write_bytes(b"a video")
    7
    >>> check_outputs([Output("--out", "./talk.mp4", VIDEO_SUFFIXES)], {"--driving": "talk.mp4"})
    Traceback (most recent call last):
    ...
    fomm_nb.errors.OutputError: --out talk.mp4 is the --driving file talk.mp4: choose another output path
"""

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

__all__ = ["VIDEO_SUFFIXES", "PICTURE_SUFFIXES", "PathLike", "Output", "check_outputs", "same_file", "writable", "write_text_atomically"]

#: What :class:`~fomm_nb.media.VideoWriter` writes.
VIDEO_SUFFIXES = (".mp4", ".webm", ".gif")
#: What matplotlib writes for the crop picture.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".pdf")

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Output:
    """One path a run writes.

    Attributes:
        option: how the user named it (``"--out"``, ``"output_path"``): errors say so.
        path: the file, or the folder when ``files`` is given.
        suffixes: the extensions its writer supports (lower case); empty for any.
        files: for an output folder (created when missing), the names written into it.
    """

    option: str
    path: PathLike
    suffixes: tuple[str, ...] = ()
    files: tuple[str, ...] | None = None


def _case_insensitive(folder: str) -> bool:
    """Whether the existing ``folder`` lies on a disk that ignores case (its name in other case is itself)."""
    head, name = os.path.split(folder)
    other = os.path.join(head, name.swapcase())
    return other != folder and os.path.exists(other) and os.path.samefile(folder, other)


def _key(path: PathLike) -> str:
    """``path`` resolved (symlinks, ``..``) and in the case its disk compares names in."""
    resolved = os.path.normcase(os.path.realpath(path))
    folder = os.path.dirname(resolved)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # the nearest folder that exists tells how its disk compares names
    return resolved.casefold() if _case_insensitive(folder) else resolved


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: :func:`os.path.samefile` when both exist, else the resolved paths.

    Example:
        >>> same_file("clips/../talk.mp4", "talk.mp4"), same_file("a.mp4", "b.mp4")
        (True, False)
    """
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return _key(a) == _key(b)


def _inside(path: PathLike, folder: PathLike) -> bool:
    return Path(_key(path)).is_relative_to(_key(folder))


def writable(folder: PathLike) -> bool:
    """Whether a file can be made in the existing ``folder``: its permissions, then a real, nameless try
    (the only test that tells for root, whom permissions do not stop, on a read-only disk or a system folder).

    Example:
        >>> writable("."), writable("/proc")
        (True, False)
    """
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _writable_folder(option: str, path: PathLike, folder: Path) -> None:
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: the folder {folder} does not exist")
    if not writable(folder):
        raise OutputError(f"{option} {path}: the folder {folder} is not writable")


def _check_file(output: Output, path: Path) -> None:
    if path.is_dir():
        raise OutputError(f"{output.option} {path}: is a folder; give a file name")
    if output.suffixes and path.suffix.lower() not in output.suffixes:
        kind = f"'{path.suffix}' files" if path.suffix else "files without an extension"
        raise OutputError(f"{output.option} {path}: cannot write {kind}; use {', '.join(output.suffixes)}")
    _writable_folder(output.option, path, path.parent)


def _check_folder(output: Output, path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise OutputError(f"{output.option} {path}: is a file, not a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not writable(existing):
        raise OutputError(f"{output.option} {path}: cannot create or write in it ({existing} is not writable)")


def _written(outputs: Iterable[Output]) -> list[tuple[str, Path]]:
    """``(option, file)`` for every file the outputs write."""
    written = []
    for output in outputs:
        path = Path(output.path)
        if output.files is None:
            written.append((output.option, path))
        else:
            written += [(output.option, path / name) for name in output.files]
    return written


def _clash(option: str, path: Path, inputs: Mapping[str, PathLike | None]) -> str | None:
    """What is wrong when ``path`` (written by ``option``) meets one of ``inputs``; None when nothing."""
    for name, value in inputs.items():
        if value is None or not os.path.exists(value):
            continue  # a missing input is its reader's error
        if os.path.isdir(value) and _inside(path, value):
            return f"{option} {path} lies inside the {name} folder {value}: write it elsewhere"
        if same_file(path, value):
            return f"{option} {path} is the {name} file {value}: choose another output path"
    return None


def check_outputs(outputs: Iterable[Output], inputs: Mapping[str, PathLike | None] | None = None) -> None:
    """Raise :class:`~fomm_nb.errors.OutputError` unless every output can be written without touching an input.

    Args:
        outputs: what the run writes; an :class:`Output` whose ``path`` is None is skipped.
        inputs: ``{option: path}`` of what the run reads (files or folders); None values are skipped.

    Example:
        >>> check_outputs([Output("--out", "a.mp4", VIDEO_SUFFIXES), Output("--side-by-side", "a.mp4")])
        Traceback (most recent call last):
        ...
        fomm_nb.errors.OutputError: --side-by-side a.mp4 and --out a.mp4 are one file: give each output its own path
    """
    outputs = [output for output in outputs if output.path is not None]
    seen = []  # first the clashes: they name both paths, the clearest message
    for option, path in _written(outputs):
        problem = _clash(option, path, inputs or {})
        if problem:
            raise OutputError(problem)
        for other_option, other in seen:
            if same_file(path, other):
                raise OutputError(f"{option} {path} and {other_option} {other} are one file: give each output its own path")
        seen.append((option, path))
    for output in outputs:
        path = Path(output.path)
        (_check_file if output.files is None else _check_folder)(output, path)


def write_text_atomically(path: PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a hidden file beside it, renamed in one step: never half a file.

    Example:
        >>> write_text_atomically("report.json", "{}").read_text()
        '{}'
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes it private to the owner
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
