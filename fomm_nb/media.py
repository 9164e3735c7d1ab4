"""Images and videos in and out: reading, writing, fitting to the model, audio.

*Images* are ``(H, W, 3)`` float32 arrays in [0, 1]. :func:`read_image`
reads png, jpg, webp, bmp and tiff with Pillow, turns phone photos upright
(EXIF orientation), makes grayscale and palette images RGB and lays
transparent images on white.

*Videos* stream: :func:`open_video` returns a :class:`VideoReader` that yields
one frame at a time, so memory does not grow with the length. It reads
mp4, webm, mov, avi, mkv through the ffmpeg binary of ``imageio-ffmpeg``
(turned upright by their rotation tag; pixels as stored, non-square pixel
aspect ratios are not corrected), GIFs through Pillow, a folder of png/jpg
frames (in natural order: ``2.png`` before ``10.png``) and a single image (a
one-frame video). :class:`VideoWriter` writes mp4 (H.264, yuv420p), webm
(VP9) or GIF (a palette per frame, loops forever) by the file's extension.

*Files appear whole or not at all*: writers write to a hidden temporary file
beside the target and rename it over the target when they finish; on an
error or an interrupt (Ctrl-C) the temporary file is deleted and an existing
file at the target is left as it was.

*Errors* are :class:`~fomm_nb.errors.MediaError` with one line that names
the file and the problem, e.g. ``clip.mp4: the video has no frames``.

Example:
    >>> frames = np.random.rand(8, 64, 64, 3).astype(np.float32)
    >>> write_video("clip.mp4", frames, fps=25)
    PosixPath('clip.mp4')
    >>> with open_video("clip.mp4") as reader:
    ...     print(reader.fps, reader.size, reader.num_frames)
    ...     model_input = [fit_frame(frame, 256) for frame in reader]
    25.0 (64, 64) 8
"""

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import uuid
import weakref
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import cv2
import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from .errors import InputError, MediaError

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_SUFFIXES",
    "read_image",
    "write_image",
    "VideoReader",
    "open_video",
    "read_video",
    "VideoWriter",
    "write_video",
    "has_audio",
    "mux_audio",
    "fit_frame",
    "crop_box",
    "side_by_side",
    "to_tensor",
    "to_numpy",
]

DEFAULT_FPS = 25.0
"""Frame rate of sources that store none: a folder of frames, a single image."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""Files read as images (and as one-frame videos); a folder's frames must have one of them."""

# ffmpeg must not see the terminal's Ctrl-C: Python handles it and stops ffmpeg itself.
if os.name == "posix":
    _OWN_GROUP = {"start_new_session": True}
else:
    _OWN_GROUP = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


# ---------------------------------------------------------------- files


def _check_file(path, what):
    """Raise MediaError unless ``path`` is a non-empty file."""
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not {what}")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")


def _check_target(path):
    """Raise MediaError unless a file can be written at ``path``."""
    if path.is_dir():
        raise MediaError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise MediaError(f"{path}: the folder {path.parent} does not exist")


def _temporary_beside(path):
    """A fresh hidden name beside ``path``, with its suffix (``.clip.1a2b3c4d.part.mp4``)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


@contextlib.contextmanager
def _replacing(path):
    """Yield a temporary path; on success it replaces ``path``, on any exception it is deleted."""
    temporary = _temporary_beside(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- images


def _open_pillow(path, what):
    """``Image.open(path)`` with MediaError for anything Pillow cannot read."""
    _check_file(path, what)
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not {what} (Pillow cannot read it)") from None
    except (OSError, Image.DecompressionBombError) as error:
        raise MediaError(f"{path}: cannot read the file ({getattr(error, 'strerror', None) or error})") from None


def _pixels(image):
    """A Pillow image as ``(H, W, 3)`` float32 in [0, 1]; transparency is laid on white."""
    if image.mode.startswith("I;16"):  # 16-bit grayscale
        gray = np.asarray(image, dtype=np.float32) / 65535
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + (1 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def read_image(path):
    """The image at ``path`` as ``(H, W, 3)`` float32 in [0, 1].

    Turned upright by its EXIF orientation; grayscale, palette and 16-bit
    images become RGB; transparent pixels become white. A missing, empty or
    unreadable file raises :class:`~fomm_nb.errors.MediaError`.

    Example:
        >>> write_image("face.png", np.zeros((48, 64, 3), np.float32))
        PosixPath('face.png')
        >>> read_image("face.png").shape
        (48, 64, 3)
    """
    path = Path(path)
    with _open_pillow(path, "an image") as image:
        try:
            return _pixels(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError) as error:
            raise MediaError(f"{path}: the image is damaged ({error})") from None


def _as_image(frame, what="the frame"):
    """``frame`` as an ``(H, W, 3)`` float32 array; uint8 values are divided by 255."""
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{what} must be an (H, W, 3) image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255
    return array.astype(np.float32, copy=False)


def _bytes(frame, what="the frame"):
    """``(H, W, 3)`` uint8 of a float image in [0, 1] (clipped, rounded) or of a uint8 one."""
    array = np.asarray(frame)
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        return array
    return (np.clip(_as_image(array, what), 0, 1) * 255 + 0.5).astype(np.uint8)


def write_image(path, image):
    """Write ``image`` ``(H, W, 3)`` (float in [0, 1] or uint8) to ``path``; the format follows the suffix.

    Example:
        >>> write_image("frame.png", np.zeros((64, 64, 3), np.float32))
        PosixPath('frame.png')
    """
    path = Path(path)
    kind = Image.registered_extensions().get(path.suffix.lower())
    if kind is None:
        raise MediaError(f"{path}: unknown image type '{path.suffix}'; use .png or .jpg")
    _check_target(path)
    picture = Image.fromarray(_bytes(image, "the image"))
    with _replacing(path) as temporary:
        picture.save(temporary, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
    return path


# ---------------------------------------------------------------- ffmpeg


def _ffmpeg(arguments):
    """Run ffmpeg with ``arguments``: ``(return code, stderr text)``."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *map(str, arguments)]
    done = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, **_OWN_GROUP)
    return done.returncode, done.stderr.decode(errors="replace")


def _reason(log):
    """The last line of an ffmpeg log, without its ``[in#0 @ 0x..]`` and ``Error ...:`` prefixes."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    last = re.sub(r"^\[[^]]*\]\s*", "", lines[-1]) if lines else "ffmpeg failed"
    return last.rsplit(": ", 1)[-1]


def _ntsc(rate):
    """The exact rate behind ffmpeg's two-decimal print: ``29.97`` is NTSC's 30000/1001.

    >>> _ntsc(29.97), _ntsc(25.0)
    (Fraction(30000, 1001), Fraction(25, 1))
    """
    whole = round(rate * 1.001)
    if rate != round(rate) and round(whole * 1000 / 1001, 2) == rate:
        return Fraction(whole * 1000, 1001)
    return Fraction(rate).limit_denominator(1000)


def _rate(rate):
    """``rate`` as the exact fraction ffmpeg is given (``29.97002997...`` -> ``30000/1001``)."""
    return Fraction(rate).limit_denominator(100_000)


class _Probe(NamedTuple):
    size: tuple  # (H, W), upright
    rate: Fraction
    num_frames: int


def _probe(path):
    """Size, frame rate and frame count of the first video stream, without decoding it."""
    code, log = _ffmpeg(["-i", path, "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    if code != 0:
        if "matches no streams" in log:
            raise MediaError(f"{path}: the file has no video stream")
        raise MediaError(f"{path}: not a video ffmpeg can read ({_reason(log)})")
    stream = next(line for line in log.splitlines() if re.match(r"\s*Stream #0:\d+.*: Video: ", line))
    width, height = map(int, re.search(r"\s(\d+)x(\d+)[\s,]", stream).groups())
    turn = re.search(r"rotation of (-?[\d.]+) degrees", log)
    if turn and round(abs(float(turn.group(1)))) % 180 == 90:
        width, height = height, width
    printed = re.findall(r"([\d.]+)(k?) (fps|tbr)", stream)  # "29.97 fps, 29.97 tbr", "1k tbr"
    rates = {kind: float(value) * (1000 if k else 1) for value, k, kind in printed}
    rate = _ntsc(rates.get("fps") or rates.get("tbr") or DEFAULT_FPS)
    frames = re.findall(r"frame=\s*(\d+)", log)
    return _Probe((height, width), rate, int(frames[-1]) if frames else 0)


def _ffmpeg_frames(path, size, rate):
    """Decode ``path`` to ``(H, W, 3)`` float32 frames at exactly ``rate`` frames per second."""
    height, width = size
    frame_bytes = height * width * 3
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
               "-map", "0:v:0", "-r", str(rate), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, **_OWN_GROUP)
        try:
            while len(data := process.stdout.read(frame_bytes)) == frame_bytes:
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3).astype(np.float32) / 255
            if process.wait() != 0 or data:
                log.seek(0)
                raise MediaError(f"{path}: decoding failed ({_reason(log.read().decode(errors='replace'))})")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


# ---------------------------------------------------------------- reading videos


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
        >>> path = write_video("talk.mp4", np.zeros((3, 144, 176, 3), np.float32))
        >>> with open_video(path) as reader:
        ...     first = next(iter(reader))
        >>> first.shape
        (144, 176, 3)
    """

    def __init__(self, path, fps, size, num_frames, frames):
        self.path = path
        self.fps = float(fps)
        self.size = tuple(size)
        self.num_frames = num_frames
        self._frames = frames  # () -> a fresh iterator of frames
        self._running = weakref.WeakSet()
        self.closed = False

    def __iter__(self):
        if self.closed:
            raise MediaError(f"{self.path}: the video was closed")
        frames = self._frames()
        self._running.add(frames)
        return frames

    def close(self):
        """Stop the decoding of every running iteration (its ffmpeg process ends)."""
        self.closed = True
        for frames in list(self._running):
            frames.close()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()
        return False

    def __repr__(self):
        return f"VideoReader('{self.path}', fps={self.fps:g}, size={self.size}, num_frames={self.num_frames})"


def _wxh(shape):
    """``(H, W, ...)`` as ``"WxH"``."""
    return f"{shape[1]}x{shape[0]}"


def _natural_key(path):
    """``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _folder_reader(folder, default_fps):
    files = sorted((f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()),
                   key=_natural_key)
    if not files:
        raise MediaError(f"{folder}: the folder has no frames ({', '.join(IMAGE_SUFFIXES)} files)")
    size = read_image(files[0]).shape[:2]

    def frames():
        for file in files:
            frame = read_image(file)
            if frame.shape[:2] != size:
                raise MediaError(f"{file}: the frame is {_wxh(frame.shape)}, the first is {_wxh(size)}")
            yield frame

    return VideoReader(folder, default_fps, size, len(files), frames)


def _gif_reader(path):
    with _open_pillow(path, "a GIF") as image:
        count, size = image.n_frames, image.size[::-1]
        delays = []
        for index in range(count):
            image.seek(index)
            delay = image.info.get("duration") or 0
            delays.append(delay if delay > 10 else 100)  # as browsers show a delay of 0 or 10 ms: 100 ms

    def frames():
        with Image.open(path) as image:
            for index in range(count):
                image.seek(index)
                yield _pixels(image)

    return VideoReader(path, 1000 * count / sum(delays), size, count, frames)


def open_video(path, default_fps=DEFAULT_FPS):
    """Open a video file, a GIF, a folder of frames or an image for streaming.

    Args:
        path: mp4/webm/mov/avi/mkv (anything ffmpeg reads), gif, a folder of
            png/jpg frames, or an image (a one-frame video).
        default_fps: the frame rate of a folder or an image, which store none.

    Returns:
        A :class:`VideoReader` (a context manager).

    Example:
        >>> path = write_video("talk.mp4", np.zeros((3, 144, 176, 3), np.float32))
        >>> with open_video(path) as reader:
        ...     for frame in reader:  # (H, W, 3) float32 in [0, 1]
        ...         pass
    """
    path = Path(path)
    if path.is_dir():
        return _folder_reader(path, default_fps)
    _check_file(path, "a video")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return _gif_reader(path)
    if suffix in IMAGE_SUFFIXES:
        image = read_image(path)

        def still():
            yield image

        return VideoReader(path, default_fps, image.shape[:2], 1, still)
    probe = _probe(path)
    if probe.num_frames == 0:
        raise MediaError(f"{path}: the video has no frames")
    size, rate = probe.size, probe.rate
    return VideoReader(path, rate, size, probe.num_frames, lambda: _ffmpeg_frames(path, size, rate))


def read_video(path, max_frames=None, default_fps=DEFAULT_FPS):
    """All frames of a (short) video in memory: ``(frames (T, H, W, 3) float32, fps)``.

    Example:
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


# ---------------------------------------------------------------- writing videos


class _Format(NamedTuple):
    muxer: str
    video: tuple  # ffmpeg arguments of the video encoder
    audio: str | None  # the audio codec for mux_audio; None: the format holds no sound
    even: bool  # the encoder needs even widths and heights


_H264 = ("-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
_VP9 = ("-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "good", "-cpu-used", "5", "-row-mt", "1",
        "-pix_fmt", "yuv420p")
# one palette per frame: memory stays flat however long the clip
_GIF = ("-vf", "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1", "-loop", "0")
_FORMATS = {
    ".mp4": _Format("mp4", _H264, "aac", True),
    ".webm": _Format("webm", _VP9, "libopus", True),
    ".gif": _Format("gif", _GIF, None, False),
}


def _format(path):
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise MediaError(f"{path}: cannot write '{path.suffix}' videos; use {', '.join(_FORMATS)}") from None


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

    def __init__(self, path, fps=DEFAULT_FPS):
        self.path = Path(path)
        self._format = _format(self.path)
        _check_target(self.path)
        if not fps > 0:
            raise InputError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.size = None  # (H, W) of the frames, set by the first one
        self.num_frames = 0
        self.closed = False
        self._temporary = self._process = self._log = None

    def _start(self, height, width):
        self._temporary = _temporary_beside(self.path)
        self._log = tempfile.TemporaryFile()
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(_rate(self.fps)),
                   "-i", "pipe:0", "-an", *self._format.video, "-f", self._format.muxer, str(self._temporary)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log,
                                         **_OWN_GROUP)

    def _failure(self, what):
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._log.seek(0)
        reason = _reason(self._log.read().decode(errors="replace"))
        self.abort()
        return MediaError(f"{self.path}: {what} ({reason})")

    def append(self, frame):
        """Add one frame ``(H, W, 3)``."""
        if self.closed:
            raise MediaError(f"{self.path}: the writer was closed")
        pixels = _bytes(frame)
        if self.size is None:
            self.size = pixels.shape[:2]
            self._start(*(side + side % 2 if self._format.even else side for side in self.size))
        elif pixels.shape[:2] != self.size:
            raise InputError(f"frame {self.num_frames} is {_wxh(pixels.shape)}, the video {_wxh(self.size)}")
        if self._format.even:
            pixels = np.pad(pixels, ((0, pixels.shape[0] % 2), (0, pixels.shape[1] % 2), (0, 0)), mode="edge")
        try:
            self._process.stdin.write(np.ascontiguousarray(pixels).data)
        except OSError:
            raise self._failure("ffmpeg stopped while writing") from None
        self.num_frames += 1

    def close(self):
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
            os.replace(self._temporary, self.path)
        except BaseException:
            self.abort()
            raise
        self._log.close()
        self.closed = True

    def abort(self):
        """Stop writing and delete the partial file; nothing appears at ``path``."""
        self.closed = True
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            with contextlib.suppress(OSError):
                self._process.stdin.close()
            self._log.close()
            self._temporary.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            self.close()
        else:
            self.abort()
        return False


def write_video(path, frames, fps=DEFAULT_FPS):
    """Write the iterable ``frames`` (each ``(H, W, 3)``, or an array ``(T, H, W, 3)``) to ``path``.

    Example:
        >>> write_video("clip.gif", np.zeros((4, 32, 32, 3), np.float32), fps=10)
        PosixPath('clip.gif')
    """
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.append(frame)
    return writer.path


# ---------------------------------------------------------------- audio


def has_audio(path):
    """Whether the media file ``path`` has a sound track (a folder of frames has none).

    Example:
        >>> has_audio(write_video("silent.mp4", np.zeros((2, 32, 32, 3), np.float32)))
        False
    """
    path = Path(path)
    if path.is_dir():
        return False
    _check_file(path, "a media file")
    _, log = _ffmpeg(["-i", path])
    if "Input #0" not in log:
        raise MediaError(f"{path}: not a file ffmpeg can read ({_reason(log)})")
    return re.search(r"Stream #0:\d+.*: Audio: ", log) is not None


def mux_audio(video_path, audio_source_path, out_path):
    """Write ``video_path`` with the sound of ``audio_source_path`` to ``out_path``.

    The video stream is copied as it is; the first sound track is encoded
    (aac in mp4, opus in webm) and cut to the video's length. When the source
    has no sound, or the output is a GIF, the video is copied unchanged.
    ``out_path`` appears only when complete (it may be ``video_path``).

    Example:
        >>> mux_audio("silent.mp4", "talk.mp4", "result.mp4")  # doctest: +SKIP
        PosixPath('result.mp4')
    """
    video_path, out_path = Path(video_path), Path(out_path)
    _check_file(video_path, "a video")
    kind = _format(out_path)
    _check_target(out_path)
    with _replacing(out_path) as temporary:
        if kind.audio is None or not has_audio(audio_source_path):
            shutil.copyfile(video_path, temporary)
        else:
            code, log = _ffmpeg(["-i", video_path, "-i", audio_source_path, "-map", "0:v:0", "-map", "1:a:0",
                                 "-c:v", "copy", "-c:a", kind.audio, "-shortest", "-f", kind.muxer, temporary])
            if code != 0:
                raise MediaError(f"{out_path}: adding the sound failed ({_reason(log)})")
    return out_path


# ---------------------------------------------------------------- sizes


def _resize(image, height, width):
    """``(H, W, 3)`` -> ``(height, width, 3)`` float32: area averaging when shrinking (no aliasing), else bilinear."""
    if image.shape[:2] == (height, width):
        return np.array(image, dtype=np.float32)
    shrink = height <= image.shape[0] and width <= image.shape[1]
    resized = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (width, height),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.clip(resized, 0, 1)


def _pad_to_square(image, size):
    """Fit ``image`` in ``(size, size, 3)``, the rest filled with the mean colour of the two edges padded."""
    height, width = image.shape[:2]
    edges = np.concatenate([image[0], image[-1]] if height < width else [image[:, 0], image[:, -1]])
    scale = size / max(height, width)
    inner_height, inner_width = max(1, round(height * scale)), max(1, round(width * scale))
    square = np.empty((size, size, 3), np.float32)
    square[:] = edges.mean(axis=0)
    top, left = (size - inner_height) // 2, (size - inner_width) // 2
    square[top:top + inner_height, left:left + inner_width] = _resize(image, inner_height, inner_width)
    return square


def fit_frame(frame, size, mode="crop"):
    """``frame`` ``(H, W, 3)`` brought to the model's ``(size, size, 3)`` float32.

    Args:
        mode: ``"crop"`` cuts the centred square (default); ``"pad"`` keeps
            the whole frame and fills the short side with the mean colour of
            the two padded edges (no hard black bars for the keypoints to
            find); ``"stretch"`` resizes without keeping the aspect ratio.

    Resizing averages areas when shrinking (OpenCV ``INTER_AREA``: no
    aliasing, about 10x faster than torch's antialiased bilinear) and is
    bilinear when enlarging, as :func:`fomm_nb.face.crop`; deterministic.

    Example:
        >>> fit_frame(np.ones((144, 176, 3), np.float32), 64).shape
        (64, 64, 3)
    """
    image = _as_image(frame)
    height, width = image.shape[:2]
    if mode == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top:top + side, left:left + side]
    elif mode == "pad":
        return _pad_to_square(image, size)
    elif mode != "stretch":
        raise InputError(f"mode must be 'crop', 'pad' or 'stretch', got {mode!r}")
    return _resize(image, size, size)


def crop_box(frame, box, size=None):
    """The part ``box`` = ``(x0, y0, x1, y1)`` (pixels, x1 and y1 excluded) of ``frame`` ``(H, W, 3)``.

    With ``size`` the crop is resized to ``(size, size, 3)``.

    Example:
        >>> crop_box(np.ones((144, 176, 3), np.float32), (20, 10, 120, 110), size=64).shape
        (64, 64, 3)
    """
    image = _as_image(frame)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InputError(f"box {tuple(box)} does not lie inside the {width}x{height} frame")
    part = image[y0:y1, x0:x1]
    return np.array(part) if size is None else _resize(part, size, size)


def _font(height):
    try:
        return ImageFont.load_default(size=height)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _label_strip(widths, labels, height):
    """A dark ``(height, sum(widths), 3)`` strip with each label centred above its panel."""
    strip = Image.new("RGB", (sum(widths), height), (32, 32, 32))
    draw, font = ImageDraw.Draw(strip), _font(round(height * 0.7))
    left = 0
    for width, label in zip(widths, labels):
        x0, y0, x1, y1 = draw.textbbox((0, 0), str(label), font=font)
        draw.text((left + (width - x1 - x0) / 2, (height - y1 - y0) / 2), str(label), fill=(255, 255, 255), font=font)
        left += width
    return np.asarray(strip, dtype=np.float32) / 255


def side_by_side(*frames, labels=None, height=None):
    """Frames ``(H_i, W_i, 3)`` resized to one height and put in a row: ``(height, sum W, 3)``.

    Args:
        height: the common height (default: the tallest frame's).
        labels: one text per frame, written in a dark strip above the row
            (the result is then taller by ``max(12, height // 10)`` rounded up to even).

    Example:
        >>> source, driving, result = (np.zeros((64, 64, 3), np.float32),) * 3
        >>> side_by_side(source, driving, result).shape
        (64, 192, 3)
        >>> side_by_side(source, driving, result, labels=["source", "driving", "result"]).shape
        (76, 192, 3)
    """
    images = [_as_image(frame, f"frame {i}") for i, frame in enumerate(frames)]
    if not images:
        raise InputError("side_by_side needs at least one frame")
    height = height or max(image.shape[0] for image in images)
    panels = [_resize(image, height, max(1, round(image.shape[1] * height / image.shape[0]))) for image in images]
    row = np.concatenate(panels, axis=1)
    if labels is None:
        return row
    if len(labels) != len(panels):
        raise InputError(f"{len(labels)} labels for {len(panels)} frames")
    strip_height = max(12, height // 10)
    strip = _label_strip([panel.shape[1] for panel in panels], labels, strip_height + strip_height % 2)
    return np.concatenate([strip, row], axis=0)


# ---------------------------------------------------------------- tensors


def to_tensor(frames, device=None):
    """``(H, W, 3)`` or ``(T, H, W, 3)`` images -> a ``(B, 3, H, W)`` float32 tensor (B = 1 or T).

    uint8 images are divided by 255; float images are taken as they are.

    Example:
        >>> to_tensor(np.zeros((4, 64, 48, 3), np.float32)).shape
        torch.Size([4, 3, 64, 48])
    """
    array = np.asarray(frames)
    scale = 255 if array.dtype == np.uint8 else 1
    array = array.astype(np.float32) / scale
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise InputError(f"frames must be (H, W, 3) or (T, H, W, 3), got shape {np.shape(frames)}")
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous().to(device)


def to_numpy(tensor):
    """A ``(B, 3, H, W)`` tensor -> ``(B, H, W, 3)`` float32 numpy; ``(3, H, W)`` -> ``(H, W, 3)``.

    Example:
        >>> to_numpy(torch.zeros(2, 3, 64, 48)).shape
        (2, 64, 48, 3)
    """
    if tensor.ndim not in (3, 4) or tensor.shape[-3] != 3:
        raise InputError(f"the tensor must be (B, 3, H, W) or (3, H, W), got shape {tuple(tensor.shape)}")
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).movedim(-3, -1).numpy())
