"""Files in and out: checks before reading or writing, and writes that appear whole or not at all.

Every writer of :mod:`fomm_nb.media` writes to a hidden *partial file*
beside its target and renames it over the target only when it is complete
(:func:`replacing`): on an error or an interrupt the partial file is
deleted, and an existing file at the target stays byte for byte as it was.

A partial file's name says which process makes it:
``.fomm-<pid>-<token>.<target name>.part<suffix>``. A process killed
outright (SIGKILL, power loss) cannot delete its own, so the next write into
that folder does (:func:`remove_stale_partials`): it removes partial files
whose process has ended, and nothing else.

Example:
    >>> with replacing(Path("notes.txt")) as partial:
    ...     _ = partial.write_text("complete")
    >>> Path("notes.txt").read_text()
    'complete'
"""

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import MediaError

__all__ = ["MAX_PIXELS", "check_file", "check_pixels", "check_target", "partial_beside", "finish", "replacing",
           "remove_stale_partials"]

MAX_PIXELS = 50_000_000
"""The largest picture read, in pixels: a 48-megapixel phone photo fits (8000x6000).

Read as float32 RGB it takes 0.6 GB; decoded, checked before any pixel is:
an image or a video frame above it is refused in one line, not read into
gigabytes of memory (``benchmarks/media_limits.py`` measures the peak).
"""

_PARTIAL = re.compile(r"\.fomm-(?P<pid>\d+)-[0-9a-f]{8}\..+\.part(\.[^.]*)?")
_NAME_KEPT = 100  # characters of the target's name kept in a partial file's name (names are at most 255)
_swept = set()  # folders already cleaned by this process


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


def check_pixels(path: Path, width: int, height: int, what: str = "the image") -> None:
    """Raise :class:`~fomm_nb.errors.MediaError` if a ``width`` x ``height`` picture is over :data:`MAX_PIXELS`.

    Example:
        >>> check_pixels(Path("huge.png"), 13000, 13000)
        Traceback (most recent call last):
        fomm_nb.errors.MediaError: huge.png: the image is 13000x13000 (169.0 megapixels), over fomm-nb's budget of 50 megapixels: scale it down first
    """
    if width * height > MAX_PIXELS:
        raise MediaError(f"{path}: {what} is {width}x{height} ({width * height / 1e6:.1f} megapixels), "
                         f"over fomm-nb's budget of {MAX_PIXELS / 1e6:g} megapixels: scale it down first")


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


def _boot_time() -> float | None:
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/stat") as stat:
            return float(next(line for line in stat if line.startswith("btime")).split()[1])
    return None


def _started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where the system says (Linux), else None."""
    boot = _boot_time()
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if boot is not None else None  # field 22: starttime
    return None


def _made_by_an_ended_process(partial: Path, pid: int) -> bool:
    """Whether process ``pid`` that made ``partial`` has ended (a new process with its number started later)."""
    if pid == os.getpid() or os.name != "posix":  # on Windows a signal 0 would be Ctrl-C: keep every file
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        pass
    started = _started(pid)
    return started is not None and started > partial.stat().st_mtime + 1  # the number was taken again


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete the partial files in ``folder`` whose process has ended; return them.

    Only names of the form ``.fomm-<pid>-<token>.<name>.part<suffix>`` are
    looked at; files of live processes, this one included, stay.

    Example:
        >>> _ = Path(".fomm-999999999-0123abcd.clip.mp4.part.mp4").write_bytes(b"half a video")
        >>> remove_stale_partials(Path("."))
        [PosixPath('.fomm-999999999-0123abcd.clip.mp4.part.mp4')]
    """
    removed = []
    with contextlib.suppress(OSError):  # an unreadable folder: the write itself will say so
        for entry in os.scandir(folder):
            match = _PARTIAL.fullmatch(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                partial = folder / entry.name
                with contextlib.suppress(OSError):
                    if _made_by_an_ended_process(partial, int(match["pid"])):
                        partial.unlink()
                        removed.append(partial)
    return removed


def partial_beside(path: Path) -> Path:
    """A fresh partial-file name beside ``path`` that keeps its suffix (``.fomm-4242-1a2b3c4d.clip.mp4.part.mp4``).

    The first call for a folder also removes that folder's stale partial files.
    """
    folder = path.parent
    if folder.resolve() not in _swept:
        remove_stale_partials(folder)
        _swept.add(folder.resolve())
    return path.with_name(f".fomm-{os.getpid()}-{uuid.uuid4().hex[:8]}.{path.name[:_NAME_KEPT]}.part{path.suffix}")


def finish(partial: Path, path: Path) -> None:
    """Move the complete ``partial`` file over ``path`` in one step, its bytes on the disk first."""
    with open(partial, "rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, path)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a partial-file path; on success it replaces ``path``, on any exception (Ctrl-C too) it is deleted.

    Example:
        >>> Path("old.txt").write_text("the user's file")
        15
        >>> with replacing(Path("old.txt")) as partial:
        ...     _ = partial.write_text("half")
        ...     raise RuntimeError("stopped half-way")
        Traceback (most recent call last):
        RuntimeError: stopped half-way
        >>> Path("old.txt").read_text()
        "the user's file"
    """
    partial = partial_beside(path)
    try:
        yield partial
        finish(partial, path)
    finally:
        partial.unlink(missing_ok=True)
