"""The ffmpeg binary of ``imageio-ffmpeg``: running it, reading its log, probing and decoding videos.

ffmpeg runs in its own process group, so the terminal's Ctrl-C reaches only
Python, which then stops ffmpeg itself. Its errors are reduced to one line
(:func:`reason`) for :class:`~fomm_nb.errors.MediaError` messages.

Example:
    >>> code, log = run_ffmpeg(["-version"])
    >>> code
    0
"""

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import imageio_ffmpeg
import numpy as np

from ..errors import MediaError
from .files import check_pixels

__all__ = ["DEFAULT_FPS", "OWN_PROCESS_GROUP", "ffmpeg_command", "ffmpeg_path", "run_ffmpeg", "reason", "exact_rate", "Probe",
           "probe", "decode"]

DEFAULT_FPS = 25.0
"""Frame rate of sources that store none: a folder of frames, a single image."""

# ffmpeg must not see the terminal's Ctrl-C: Python handles it and stops ffmpeg itself.
if os.name == "posix":
    OWN_PROCESS_GROUP = {"start_new_session": True}
else:
    OWN_PROCESS_GROUP = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


def ffmpeg_command(arguments: Sequence[object]) -> list[str]:
    """The ffmpeg command line for ``arguments`` (paths and numbers become strings).

    Example:
        >>> ffmpeg_command(["-r", 25])[-2:]
        ['-r', '25']
    """
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *map(str, arguments)]


def ffmpeg_path(path: Path) -> str:
    """``path`` as ffmpeg must be given it to take it as that very file: ``file:`` and the absolute path.

    Given as it is, ffmpeg would read ``concat:a.mp4|b.mp4`` as a protocol
    (the two files a.mp4 and b.mp4) and ``-y.mp4`` as an option.

    Example:
        >>> ffmpeg_path(Path("concat:a.mp4|b.mp4")) == "file:" + str(Path.cwd() / "concat:a.mp4|b.mp4")
        True
    """
    return "file:" + os.path.abspath(path)


def run_ffmpeg(arguments: Sequence[object]) -> tuple[int, str]:
    """Run ffmpeg with ``arguments`` to the end: ``(return code, stderr text)``."""
    done = subprocess.run(ffmpeg_command(arguments), capture_output=True, stdin=subprocess.DEVNULL,
                          **OWN_PROCESS_GROUP)
    return done.returncode, done.stderr.decode(errors="replace")


def reason(log: str) -> str:
    """The last line of an ffmpeg log, without its ``[in#0 @ 0x..]`` and ``Error ...:`` prefixes.

    Example:
        >>> reason("[in#0 @ 0x5581] Error opening input: Invalid data found when processing input")
        'Invalid data found when processing input'
    """
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    last = re.sub(r"^\[[^]]*\]\s*", "", lines[-1]) if lines else "ffmpeg failed"
    return last.rsplit(": ", 1)[-1]


def _ntsc(rate: float) -> Fraction:
    """The exact rate behind ffmpeg's two-decimal print: ``29.97`` is NTSC's 30000/1001.

    >>> _ntsc(29.97), _ntsc(25.0)
    (Fraction(30000, 1001), Fraction(25, 1))
    """
    whole = round(rate * 1.001)
    if rate != round(rate) and round(whole * 1000 / 1001, 2) == rate:
        return Fraction(whole * 1000, 1001)
    return Fraction(rate).limit_denominator(1000)


def exact_rate(rate: float) -> Fraction:
    """``rate`` as the exact fraction ffmpeg is given.

    Example:
        >>> exact_rate(30000 / 1001)
        Fraction(30000, 1001)
    """
    return Fraction(rate).limit_denominator(100_000)


class Probe(NamedTuple):
    """What :func:`probe` finds in a video file."""

    size: tuple[int, int]  # (H, W), upright
    rate: Fraction
    num_frames: int


def probe(path: Path) -> Probe:
    """Size, frame rate and frame count of the first video stream of ``path``, without decoding it.

    Frames over the pixel budget (:data:`~fomm_nb.media.files.MAX_PIXELS`) are refused here.
    """
    code, log = run_ffmpeg(["-i", ffmpeg_path(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"])
    if code != 0:
        if "matches no streams" in log:
            raise MediaError(f"{path}: the file has no video stream")
        raise MediaError(f"{path}: not a video ffmpeg can read ({reason(log)})")
    stream = next(line for line in log.splitlines() if re.match(r"\s*Stream #0:\d+.*: Video: ", line))
    width, height = map(int, re.search(r"\s(\d+)x(\d+)[\s,]", stream).groups())
    turn = re.search(r"rotation of (-?[\d.]+) degrees", log)
    if turn and round(abs(float(turn.group(1)))) % 180 == 90:
        width, height = height, width
    check_pixels(path, width, height, "each frame")
    printed = re.findall(r"([\d.]+)(k?) (fps|tbr)", stream)  # "29.97 fps, 29.97 tbr", "1k tbr"
    rates = {kind: float(value) * (1000 if k else 1) for value, k, kind in printed}
    rate = _ntsc(rates.get("fps") or rates.get("tbr") or DEFAULT_FPS)
    frames = re.findall(r"frame=\s*(\d+)", log)
    return Probe((height, width), rate, int(frames[-1]) if frames else 0)


def decode(path: Path, size: tuple[int, int], rate: Fraction) -> Iterator[np.ndarray]:
    """Decode ``path`` to ``(H, W, 3)`` float32 frames in [0, 1] at exactly ``rate`` frames per second.

    ``size`` is ``(H, W)`` from :func:`probe`. Closing the generator stops ffmpeg.
    """
    height, width = size
    frame_bytes = height * width * 3
    command = ffmpeg_command(["-v", "error", "-i", ffmpeg_path(path), "-map", "0:v:0", "-r", rate, "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "pipe:1"])
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                   **OWN_PROCESS_GROUP)
        try:
            while len(data := process.stdout.read(frame_bytes)) == frame_bytes:
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3).astype(np.float32) / 255
            if process.wait() != 0 or data:
                log.seek(0)
                raise MediaError(f"{path}: decoding failed ({reason(log.read().decode(errors='replace'))})")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()
