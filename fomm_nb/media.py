"""Images and videos in and out, as float32 ``(H, W, 3)`` arrays in [0, 1].

* :func:`read_image` reads png/jpg/webp/bmp; alpha is composited on white,
  grey and palette images become RGB.
* :func:`open_video` streams frames from mp4/webm/mov/avi/mkv (ffmpeg),
  gif, or a folder of frames, without loading the whole video.
* :func:`fit_frame` brings a frame to the model's square size.
* :class:`VideoWriter` writes mp4 (H.264, yuv420p) or gif to a temporary
  file and renames it into place only when complete: an interrupted write
  leaves nothing at the target path, and an older file there stays intact.
* :func:`mux_audio` copies a video's audio track into another video.

Example:
    >>> frames = np.zeros((3, 64, 64, 3), dtype=np.float32)
    >>> write_video("/tmp/black.mp4", frames, fps=25)  # doctest: +SKIP
    >>> read_video("/tmp/black.mp4")[0].shape  # doctest: +SKIP
    (3, 64, 64, 3)
"""

import os
import subprocess
import tempfile
from pathlib import Path

import imageio
import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F

from .errors import MediaError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v", ".gif"}

__all__ = [
    "read_image",
    "write_image",
    "open_video",
    "read_video",
    "VideoReader",
    "VideoWriter",
    "write_video",
    "fit_frame",
    "crop_box",
    "side_by_side",
    "has_audio",
    "mux_audio",
    "to_tensor",
    "to_numpy",
]


def _reason(error):
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__


def _check_file(path, what):
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes), not {what}")
    return path


def _to_rgb_float(array, path):
    """Any decoded image -> (H, W, 3) float32 in [0, 1]."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise MediaError(f"{path}: unsupported image layout {array.shape}")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0 if array.dtype == np.uint8 else 1.0
    image = array.astype(np.float32) / scale
    if image.shape[2] in (2, 4):  # composite the alpha channel on white
        colour, alpha = image[..., :-1], image[..., -1:]
        image = colour * alpha + (1.0 - alpha)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.clip(image, 0.0, 1.0)


def read_image(path):
    """Read an image file as an ``(H, W, 3)`` float32 array in [0, 1]."""
    path = _check_file(path, "an image")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not an image")
    try:
        array = iio.imread(path, index=0) if path.suffix.lower() == ".gif" else iio.imread(path)
    except Exception as error:  # imageio raises many types for undecodable data
        raise MediaError(f"{path}: not a readable image ({_reason(error)})") from None
    if array.ndim == 4:  # multi-frame formats: keep the first frame
        array = array[0]
    return _to_rgb_float(array, path)


def write_image(path, image):
    """Write an ``(H, W, 3)`` float image in [0, 1] (atomic)."""
    path = Path(path)
    data = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    with _atomic_target(path) as temporary:
        iio.imwrite(temporary, data, extension=path.suffix)
    return path


class VideoReader:
    """Streams the frames of a video file or a folder of frames.

    Attributes: ``path``, ``fps``, ``size`` ``(H, W)``, ``num_frames`` (``None``
    when the container does not say). Iterating yields ``(H, W, 3)`` float32
    frames; use it as a context manager.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._frame_files = None
        if self.path.is_dir():
            self._frame_files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._frame_files:
                raise MediaError(f"{self.path}: the folder holds no frames (png, jpg, ...)")
            first = read_image(self._frame_files[0])
            self.fps, self.num_frames = 25.0, len(self._frame_files)
        else:
            _check_file(self.path, "a video")
            first = self._first_frame()
            self.fps, self.num_frames = self._metadata()
        self.size = first.shape[:2]

    def _first_frame(self):
        try:
            for frame in iio.imiter(self.path):
                return _to_rgb_float(frame, self.path)
        except Exception as error:
            raise MediaError(f"{self.path}: not a readable video ({_reason(error)})") from None
        raise MediaError(f"{self.path}: the video has no frames")

    def _metadata(self):
        try:
            meta = iio.immeta(self.path, exclude_applied=False)
        except Exception:
            meta = {}
        if self.path.suffix.lower() == ".gif":
            duration = meta.get("duration") or 100  # milliseconds per frame
            try:
                count = iio.improps(self.path).shape[0]
            except Exception:
                count = None
            return 1000.0 / duration, count
        fps = float(meta.get("fps") or 25.0)
        frames = meta.get("nframes")
        if isinstance(frames, (int, float)) and np.isfinite(frames) and frames > 0:
            return fps, int(frames)
        duration = meta.get("duration")
        # ffmpeg reports the duration, not the count: an estimate, good for progress bars.
        return fps, int(round(duration * fps)) if duration else None

    def __iter__(self):
        if self._frame_files is not None:
            for file in self._frame_files:
                yield read_image(file)
            return
        try:
            for frame in iio.imiter(self.path):
                yield _to_rgb_float(frame, self.path)
        except MediaError:
            raise
        except Exception as error:
            raise MediaError(f"{self.path}: the video stops with an error ({_reason(error)})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Nothing stays open between frames; kept for the context-manager protocol."""


def open_video(path):
    """A :class:`VideoReader` over ``path`` (a video file, a gif, a folder of frames, or one image)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return _SingleImageVideo(path)
    return VideoReader(path)


class _SingleImageVideo(VideoReader):
    """A still image read as a one-frame video."""

    def __init__(self, path):
        self.path = Path(path)
        self.image = read_image(path)
        self.fps, self.num_frames, self.size = 25.0, 1, self.image.shape[:2]
        self._frame_files = None

    def __iter__(self):
        yield self.image


def read_video(path, max_frames=None):
    """All frames of ``path`` as ``(T, H, W, 3)`` float32 (up to ``max_frames``), and the fps."""
    with open_video(path) as reader:
        frames = []
        for frame in reader:
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
        return np.stack(frames), reader.fps


class _atomic_target:
    """Context manager yielding a temporary path beside ``path``, renamed onto it on success."""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        if not self.path.parent.exists():
            raise MediaError(f"{self.path}: the folder {self.path.parent} does not exist")
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=self.path.suffix)
        os.close(handle)
        self.temporary = Path(name)
        return self.temporary

    def __exit__(self, kind, error, trace):
        if kind is None:
            os.replace(self.temporary, self.path)
        elif self.temporary.exists():
            self.temporary.unlink()
        return False


def _even(frame):
    """Pad odd heights/widths by one edge pixel: H.264 with yuv420p needs even sizes."""
    height, width = frame.shape[:2]
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


class VideoWriter:
    """Write frames to an mp4 (H.264, yuv420p) or gif, atomically.

    Use as a context manager, or call :meth:`append` then :meth:`close`
    (:meth:`abort` discards everything). Frames are ``(H, W, 3)`` float in [0, 1].

    Example:
        >>> with VideoWriter("/tmp/out.mp4", fps=25) as writer:  # doctest: +SKIP
        ...     writer.append(np.zeros((64, 64, 3)))
    """

    def __init__(self, path, fps=25.0):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise MediaError(f"{self.path}: cannot write '{suffix}' videos; use .mp4 or .gif")
        self.fps = float(fps)
        self._target = _atomic_target(self.path)
        self._temporary = self._target.__enter__()
        self._writer = None
        self.num_frames = 0

    def _open(self):
        if self.path.suffix.lower() == ".gif":
            self._writer = iio.imopen(self._temporary, "w", extension=".gif")
            self._gif_frames = []
        else:
            self._writer = imageio.get_writer(
                self._temporary, format="FFMPEG", fps=self.fps, codec="libx264", pixelformat="yuv420p",
                macro_block_size=1, quality=8, ffmpeg_log_level="error",
            )

    def append(self, frame):
        """Add one ``(H, W, 3)`` frame."""
        if self._writer is None:
            self._open()
        data = (np.clip(np.asarray(frame, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        if self.path.suffix.lower() == ".gif":
            self._gif_frames.append(data)  # gifs are small; pillow writes them in one go
        else:
            self._writer.append_data(_even(data))
        self.num_frames += 1

    def close(self):
        """Finish the file and move it into place."""
        if self._writer is None:
            self.abort()
            raise MediaError(f"{self.path}: no frames were written")
        if self.path.suffix.lower() == ".gif":
            self._writer.write(np.stack(self._gif_frames), duration=1000 / self.fps, loop=0)
        self._writer.close()
        self._target.__exit__(None, None, None)

    def abort(self):
        """Discard what was written; the target path is left as it was."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
        self._target.__exit__(RuntimeError, None, None)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            self.close()
        else:
            self.abort()
        return False


def write_video(path, frames, fps=25.0):
    """Write all ``frames`` (``(T, H, W, 3)`` or an iterable) to ``path``; returns the path."""
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.append(frame)
    return Path(path)


def fit_frame(frame, size, mode="crop"):
    """Bring ``frame`` ``(H, W, 3)`` to ``(size, size, 3)``.

    ``mode``: ``"crop"`` takes the centre square, ``"pad"`` pads the short side
    with the edge colour, ``"stretch"`` resizes without keeping the aspect.
    Resizing is bilinear with antialiasing.

    Example:
        >>> fit_frame(np.zeros((100, 200, 3), np.float32), 64).shape
        (64, 64, 3)
    """
    frame = np.asarray(frame, dtype=np.float32)
    height, width = frame.shape[:2]
    if mode == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        frame = frame[top : top + side, left : left + side]
    elif mode == "pad":
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        frame = np.pad(frame, ((top, side - height - top), (left, side - width - left), (0, 0)), mode="edge")
    elif mode != "stretch":
        raise MediaError(f"crop mode must be 'crop', 'pad' or 'stretch', got {mode!r}")
    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame)
    tensor = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return resized[0].permute(1, 2, 0).clamp(0, 1).numpy()


def crop_box(frame, box):
    """The part of ``frame`` inside ``box`` = ``(left, top, right, bottom)`` pixels (right/bottom exclusive)."""
    left, top, right, bottom = (int(round(v)) for v in box)
    return frame[max(top, 0) : bottom, max(left, 0) : right]


def side_by_side(*frames, height=None):
    """Frames resized to one height and put left to right: ``(H, sum W, 3)``."""
    height = height or max(frame.shape[0] for frame in frames)
    panels = []
    for frame in frames:
        width = max(1, round(frame.shape[1] * height / frame.shape[0]))
        if frame.shape[:2] != (height, width):
            tensor = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32)).permute(2, 0, 1)[None]
            frame = F.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
            frame = frame[0].permute(1, 2, 0).clamp(0, 1).numpy()
        panels.append(np.asarray(frame, dtype=np.float32))
    return np.concatenate(panels, axis=1)


def _ffmpeg():
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def has_audio(path):
    """Whether the media file at ``path`` has an audio stream (False for folders and images)."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in VIDEO_SUFFIXES - {".gif"}:
        return False
    probe = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return "Audio:" in probe.stderr


def mux_audio(video_path, audio_source_path, out_path):
    """Write ``video_path``'s picture with ``audio_source_path``'s audio to ``out_path`` (atomic).

    Without audio in the source, the video is copied as it is.
    """
    out_path = Path(out_path)
    with _atomic_target(out_path) as temporary:
        if has_audio(audio_source_path):
            command = [_ffmpeg(), "-y", "-loglevel", "error", "-i", str(video_path), "-i", str(audio_source_path),
                       "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-shortest", str(temporary)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise MediaError(f"{audio_source_path}: could not copy its audio ({_reason(result.stderr)})")
        else:
            temporary.write_bytes(Path(video_path).read_bytes())
    return out_path


def to_tensor(frames):
    """``(H, W, 3)`` or ``(T, H, W, 3)`` float array -> ``(T, 3, H, W)`` float32 tensor."""
    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)


def to_numpy(tensor):
    """``(T, 3, H, W)`` tensor -> ``(T, H, W, 3)`` float32 array."""
    return tensor.detach().float().permute(0, 2, 3, 1).cpu().numpy()
