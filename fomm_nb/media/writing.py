"""Videos out: mp4 (H.264, yuv420p), webm (VP9) or GIF by the file's extension, whole or not at all.

:class:`VideoWriter` pipes raw frames into ffmpeg, which writes a hidden
partial file beside the target (see :mod:`~fomm_nb.media.files`); the file
is renamed over the target only when it is complete. On an error or an
interrupt (Ctrl-C) the partial file is deleted and an existing file at the target is left as it was.

Example:
    >>> write_video("clip.gif", np.zeros((4, 32, 32, 3), np.float32), fps=10)
    PosixPath('clip.gif')
"""

import contextlib
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import numpy as np

from ..errors import InputError, MediaError
from .ffmpeg import DEFAULT_FPS, OWN_PROCESS_GROUP, exact_rate, ffmpeg_command, ffmpeg_path, reason
from .files import check_target, finish, partial_beside
from .images import as_bytes, wxh

__all__ = ["VideoFormat", "VIDEO_FORMATS", "video_format", "VideoWriter", "write_video"]


class VideoFormat(NamedTuple):
    """How ffmpeg writes one kind of video file."""

    muxer: str
    video: tuple[str, ...]  # ffmpeg arguments of the video encoder
    audio: str | None  # the audio codec for mux_audio; None: the format holds no sound
    even: bool  # the encoder needs even widths and heights


_H264 = ("-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
_VP9 = ("-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "good", "-cpu-used", "5", "-row-mt", "1",
        "-pix_fmt", "yuv420p")
# one palette per frame: memory stays flat however long the clip
_GIF = ("-vf", "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1", "-loop", "0")
VIDEO_FORMATS = {
    ".mp4": VideoFormat("mp4", _H264, "aac", True),
    ".webm": VideoFormat("webm", _VP9, "libopus", True),
    ".gif": VideoFormat("gif", _GIF, None, False),
}
"""The video formats written, by file extension."""


def video_format(path: Path) -> VideoFormat:
    """The :class:`VideoFormat` of ``path``'s extension, or a MediaError that lists the ones written.

    Example:
        >>> video_format(Path("clip.MP4")).muxer
        'mp4'
    """
    try:
        return VIDEO_FORMATS[path.suffix.lower()]
    except KeyError:
        raise MediaError(f"{path}: cannot write '{path.suffix}' videos; use {', '.join(VIDEO_FORMATS)}") from None


class VideoWriter:
    """Write frames to an mp4, webm or gif file, which appears only when complete.

    Frames are ``(H, W, 3)`` float32 in [0, 1] (or uint8), all of one size.
    For mp4 and webm an odd width or height grows by one pixel (the last
    column or row repeated), as yuv420p needs even sides. ``fps`` is kept
    exactly, 29.97 and 30000/1001 included. GIFs loop forever.

    Use it as a context manager: a clean exit calls :meth:`close` (the file
    appears at ``path``), an exception (Ctrl-C included) calls :meth:`abort`
    (nothing appears, an existing file stays as it was).

    Example:
        >>> frames = np.zeros((5, 64, 64, 3), np.float32)
        >>> with VideoWriter("result.mp4", fps=29.97) as writer:
        ...     for frame in frames:
        ...         writer.append(frame)
        >>> writer.path.exists()
        True
    """

    def __init__(self, path: str | Path, fps: float = DEFAULT_FPS) -> None:
        self.path = Path(path)
        self._format = video_format(self.path)
        check_target(self.path)
        if not fps > 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.size = None  # (H, W) of the frames, set by the first one
        self.num_frames = 0
        self.closed = False
        self._partial = self._process = self._log = None

    def _start(self, height: int, width: int) -> None:
        self._partial = partial_beside(self.path)
        self._log = tempfile.TemporaryFile()
        command = ffmpeg_command(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                                  "-r", exact_rate(self.fps), "-i", "pipe:0", "-an", *self._format.video,
                                  "-f", self._format.muxer, ffmpeg_path(self._partial)])
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log,
                                         **OWN_PROCESS_GROUP)

    def _failure(self, what: str) -> MediaError:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._log.seek(0)
        why = reason(self._log.read().decode(errors="replace"))
        self.abort()
        return MediaError(f"{self.path}: {what} ({why})")

    def append(self, frame: np.ndarray) -> None:
        """Add one frame ``(H, W, 3)``."""
        if self.closed:
            raise MediaError(f"{self.path}: the writer was closed")
        pixels = as_bytes(frame)
        if self.size is None:
            self.size = pixels.shape[:2]
            self._start(*(side + side % 2 if self._format.even else side for side in self.size))
        elif pixels.shape[:2] != self.size:
            raise InputError(f"frame {self.num_frames} is {wxh(pixels.shape)}, the video {wxh(self.size)}")
        if self._format.even:
            pixels = np.pad(pixels, ((0, pixels.shape[0] % 2), (0, pixels.shape[1] % 2), (0, 0)), mode="edge")
        try:
            self._process.stdin.write(np.ascontiguousarray(pixels).data)
        except OSError:
            raise self._failure("ffmpeg stopped while writing") from None
        self.num_frames += 1

    def close(self) -> None:
        """Finish the file and move it to ``path``."""
        if self.closed:
            return
        if self._process is None:
            self.closed = True
            raise MediaError(f"{self.path}: no frames to write")
        try:
            self._process.stdin.close()
            if self._process.wait() != 0:
                raise self._failure("ffmpeg failed")
            finish(self._partial, self.path)
        except BaseException:
            self.abort()
            raise
        self._log.close()
        self.closed = True

    def abort(self) -> None:
        """Stop writing and delete the partial file; nothing appears at ``path``."""
        self.closed = True
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            with contextlib.suppress(OSError):
                self._process.stdin.close()
            self._log.close()
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> bool:
        if kind is None:
            self.close()
        else:
            self.abort()
        return False


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = DEFAULT_FPS) -> Path:
    """Write the iterable ``frames`` (each ``(H, W, 3)``, or an array ``(T, H, W, 3)``) to ``path``.

    Example:
        >>> write_video("clip.gif", np.zeros((4, 32, 32, 3), np.float32), fps=10)
        PosixPath('clip.gif')
    """
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.append(frame)
    return writer.path
