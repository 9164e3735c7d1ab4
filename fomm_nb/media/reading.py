"""Videos in, one frame at a time: files ffmpeg reads, GIFs, folders of frames, single images.

:func:`open_video` returns a :class:`VideoReader` that yields one
``(H, W, 3)`` float32 frame at a time, so memory does not grow with the
length. It reads mp4, webm, mov, avi, mkv through ffmpeg (turned upright by
their rotation tag; pixels as stored, non-square pixel aspect ratios are not
corrected), GIFs, animated WebP and APNG through Pillow (every frame), a
folder of png/jpg frames (in natural order: ``2.png`` before ``10.png``) and
a single image (a one-frame video).

Damage is found when the video is opened where that costs little: every
frame of an animated image is decoded once, every file of a folder has its
header read (a file that is not an image, or a frame of another size, is
named), a video file is probed by ffmpeg.

Example:
    >>> from fomm_nb.media import write_video
    >>> path = write_video("clip.mp4", np.zeros((8, 64, 64, 3), np.float32), fps=25)
    >>> with open_video(path) as reader:
    ...     print(reader.fps, reader.size, reader.num_frames)
    25.0 (64, 64) 8
"""

import itertools
import re
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError, MediaError
from .ffmpeg import DEFAULT_FPS, decode, probe
from .files import check_file
from .images import IMAGE_SUFFIXES, PILLOW_ERRORS, open_pillow, pixels_of, quiet_pillow, read_image, upright_size, wxh

__all__ = ["VideoReader", "open_video", "read_video"]


class VideoReader:
    """A video opened by :func:`open_video`: its metadata, and its frames one at a time.

    Attributes:
        path: the file or folder.
        fps: frames per second (float; NTSC rates exactly, e.g. 30000/1001).
        size: ``(H, W)`` of every frame.
        num_frames: the number of frames. For a video file it is the count
            stored in the file, taken without decoding; a variable-frame-rate
            video, decoded at the constant rate ``fps``, may yield a few more
            or fewer.

    Iterating yields ``(H, W, 3)`` float32 frames in [0, 1], decoded as they
    are asked for; each ``for`` loop starts again at the first frame.
    ``close()`` (or leaving the ``with`` block) stops any decoding under way.

    Example:
        >>> from fomm_nb.media import write_video
        >>> path = write_video("talk.mp4", np.zeros((3, 144, 176, 3), np.float32))
        >>> with open_video(path) as reader:
        ...     first = next(iter(reader))
        >>> first.shape
        (144, 176, 3)
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], num_frames: int,
                 frames: Callable[[], Iterator[np.ndarray]]) -> None:
        self.path = path
        self.fps = float(fps)
        self.size = tuple(size)
        self.num_frames = num_frames
        self._frames = frames  # () -> a fresh iterator of frames
        self._running = weakref.WeakSet()
        self.closed = False

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.closed:
            raise MediaError(f"{self.path}: the video was closed")
        frames = self._frames()
        self._running.add(frames)
        return frames

    def close(self) -> None:
        """Stop the decoding of every running iteration (its ffmpeg process ends)."""
        self.closed = True
        for frames in list(self._running):
            frames.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exception: object) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"VideoReader('{self.path}', fps={self.fps:g}, size={self.size}, num_frames={self.num_frames})"


def _natural_key(path: Path) -> list:
    """``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _folder_reader(folder: Path, default_fps: float) -> VideoReader:
    """Every frame's header is read now: a file that is not an image, or of another size, fails before any frame is used."""
    files = sorted((f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()),
                   key=_natural_key)
    if not files:
        raise MediaError(f"{folder}: the folder has no frames ({', '.join(IMAGE_SUFFIXES)} files)")
    size = None
    for file in files:
        with open_pillow(file, "an image") as image, quiet_pillow():
            try:
                found = upright_size(image)
            except PILLOW_ERRORS as error:
                raise MediaError(f"{file}: the image is damaged ({error})") from None
        size = size or found
        if found != size:
            raise MediaError(f"{file}: the frame is {wxh(found)}, the first is {wxh(size)}")

    def frames():
        for file in files:
            frame = read_image(file)
            if frame.shape[:2] != size:  # changed since it was opened
                raise MediaError(f"{file}: the frame is {wxh(frame.shape)}, the first is {wxh(size)}")
            yield frame

    return VideoReader(folder, default_fps, size, len(files), frames)


_ANIMATIONS = ("GIF", "PNG", "WEBP")  # Pillow formats that hold frames with durations (PNG: APNG)


def _animation_reader(path: Path, image: Image.Image) -> VideoReader:
    """A GIF, an animated WebP or an APNG: every frame is decoded once now, so a damaged file fails here."""
    size, delays = image.size[::-1], []
    with quiet_pillow():
        try:
            count = image.n_frames  # counting reads through the file
            for index in range(count):
                image.seek(index)
                image.load()
                delays.append(image.info.get("duration") or 0)
        except PILLOW_ERRORS as error:
            raise MediaError(f"{path}: the file is damaged at frame {len(delays)} ({error})") from None
    delays = [delay if delay > 10 else 100 for delay in delays]  # as browsers show a delay of 0 or 10 ms: 100 ms

    def frames():
        with open_pillow(path, "a video") as animation:
            for index in range(count):
                try:
                    with quiet_pillow():  # only around Pillow: the caller's code runs between frames
                        animation.seek(index)
                        frame = pixels_of(animation)
                except PILLOW_ERRORS as error:
                    raise MediaError(f"{path}: the file is damaged at frame {index} ({error})") from None
                yield frame

    return VideoReader(path, 1000 * count / sum(delays), size, count, frames)


def _pillow_reader(path: Path, default_fps: float) -> VideoReader:
    """A GIF, an animated WebP or APNG (all their frames), or an image (a one-frame video)."""
    with open_pillow(path, "a GIF" if path.suffix.lower() == ".gif" else "an image") as image, quiet_pillow():
        try:  # counting the frames reads through the file
            animated = image.format == "GIF" or (image.format in _ANIMATIONS and getattr(image, "n_frames", 1) > 1)
        except PILLOW_ERRORS as error:
            raise MediaError(f"{path}: the file is damaged ({error})") from None
        if animated:
            return _animation_reader(path, image)
    still = read_image(path)
    return VideoReader(path, default_fps, still.shape[:2], 1, lambda: (frame for frame in [still]))


def open_video(path: str | Path, default_fps: float = DEFAULT_FPS) -> VideoReader:
    """Open a video file, a GIF, a folder of frames or an image for streaming.

    Args:
        path: mp4/webm/mov/avi/mkv (anything ffmpeg reads), gif, animated
            webp or png, a folder of png/jpg frames, or an image (a one-frame video).
        default_fps: the frame rate of a folder or an image, which store none.

    Returns:
        A :class:`VideoReader` (a context manager).

    Example:
        >>> from fomm_nb.media import write_video
        >>> path = write_video("talk.mp4", np.zeros((3, 144, 176, 3), np.float32))
        >>> with open_video(path) as reader:
        ...     for frame in reader:  # (H, W, 3) float32 in [0, 1]
        ...         pass
    """
    path = Path(path)
    if path.is_dir():
        return _folder_reader(path, default_fps)
    check_file(path, "a video")
    if path.suffix.lower() in (".gif", *IMAGE_SUFFIXES):
        return _pillow_reader(path, default_fps)
    found = probe(path)
    if found.num_frames == 0:
        raise MediaError(f"{path}: the video has no frames")
    size, rate = found.size, found.rate
    return VideoReader(path, rate, size, found.num_frames, lambda: decode(path, size, rate))


def read_video(path: str | Path, max_frames: int | None = None,
               default_fps: float = DEFAULT_FPS) -> tuple[np.ndarray, float]:
    """All frames of a (short) video in memory: ``(frames (T, H, W, 3) float32, fps)``.

    Example:
        >>> from fomm_nb.media import write_video
        >>> path = write_video("talk.mp4", np.zeros((20, 144, 176, 3), np.float32), fps=30000 / 1001)
        >>> frames, fps = read_video(path, max_frames=16)
        >>> frames.shape, fps
        ((16, 144, 176, 3), 29.97002997002997)
    """
    if max_frames is not None and max_frames < 1:
        raise InputError(f"max_frames must be at least 1, got {max_frames}")
    with open_video(path, default_fps) as reader:
        frames = list(itertools.islice(reader, max_frames))
    if not frames:
        raise MediaError(f"{path}: no frames could be decoded")
    return np.stack(frames), reader.fps
