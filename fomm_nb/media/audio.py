"""Sound: whether a file has a sound track, and copying the driving video's sound onto a result."""

import re
import shutil
from pathlib import Path

from ..errors import MediaError
from .ffmpeg import ffmpeg_path, reason, run_ffmpeg
from .files import check_file, check_target, replacing
from .writing import video_format

__all__ = ["has_audio", "mux_audio"]


def has_audio(path: str | Path) -> bool:
    """Whether the media file ``path`` has a sound track (a folder of frames has none).

    Example:
        >>> import numpy as np
        >>> from fomm_nb.media import write_video
        >>> has_audio(write_video("silent.mp4", np.zeros((2, 32, 32, 3), np.float32)))
        False
    """
    path = Path(path)
    if path.is_dir():
        return False
    check_file(path, "a media file")
    _, log = run_ffmpeg(["-i", ffmpeg_path(path)])
    if "Input #0" not in log:
        raise MediaError(f"{path}: not a file ffmpeg can read ({reason(log)})")
    return re.search(r"Stream #0:\d+.*: Audio: ", log) is not None


def mux_audio(video_path: str | Path, audio_source_path: str | Path, out_path: str | Path) -> Path:
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
    check_file(video_path, "a video")
    kind = video_format(out_path)
    check_target(out_path)
    with replacing(out_path) as partial:
        if kind.audio is None or not has_audio(audio_source_path):
            shutil.copyfile(video_path, partial)
        else:
            code, log = run_ffmpeg(["-i", ffmpeg_path(video_path), "-i", ffmpeg_path(audio_source_path), "-map", "0:v:0", "-map", "1:a:0",
                                    "-c:v", "copy", "-c:a", kind.audio, "-shortest", "-f", kind.muxer,
                                    ffmpeg_path(partial)])
            if code != 0:
                raise MediaError(f"{out_path}: adding the sound failed ({reason(log)})")
    return out_path
