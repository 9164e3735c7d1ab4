"""Writing the procedural faces to disk in the published FOMM layout, landmarks alongside.

Layout (read back by :class:`fomm_nb.data.video_folder.VideoFolder` and by
the published code)::

    root/train/face-0000000/0000000.png, 0000001.png, ...   (format='png')
    root/train/face-0000000.mp4                              (format='mp4')
    root/train/face-0000000.landmarks.npy                    (T, L, 2) float32 pixels (x, y)
    root/test/face-1000000/...

The number in a name is the video's seed: ``make_video(seed, num_frames,
size)`` renders it again. The landmark files sit beside the videos, not
inside the frame folders, so readers that take every file of a folder as a
frame, or every entry of a split as a video, are not confused. mp4 frames
are compressed (yuv420p): landmarks stay exact, pixels change slightly.

Example:
    >>> write_frames_dataset("data/faces", num_train=100, num_test=10)  # doctest: +SKIP
    PosixPath('data/faces')
"""

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..media import write_image, write_video
from .procedural import make_video, split_seed

__all__ = ["FORMATS", "video_name", "write_frames_dataset"]

FORMATS = ("png", "mp4")


def video_name(seed: int) -> str:
    """The file or folder name of the video of ``seed``.

    Example:
        >>> video_name(1000003)
        'face-1000003'
    """
    return f"face-{seed:07d}"


def write_frames_dataset(
    root: str | os.PathLike,
    num_train: int = 100,
    num_test: int = 10,
    num_frames: int = 32,
    size: int = 64,
    seed: int = 0,
    format: str = "png",
    fps: float = 25,
) -> Path:
    """Render ``num_train`` training and ``num_test`` test videos into ``root`` (see the module docstring); returns ``root``.

    ``seed`` picks the data set (as in :func:`~fomm_nb.data.procedural.split_seed`);
    ``format`` is 'png' (a folder of frames per video) or 'mp4' (at ``fps``).
    Existing files of the same names are replaced.

    Example:
        >>> root = write_frames_dataset("/tmp/faces", num_train=2, num_test=1, num_frames=4)  # doctest: +SKIP
        >>> sorted(p.name for p in (root / "train").iterdir())  # doctest: +SKIP
        ['face-0000000', 'face-0000000.landmarks.npy', 'face-0000001', 'face-0000001.landmarks.npy']
    """
    if format not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if num_train < 0 or num_test < 0 or num_frames < 1:
        raise InputError(f"need num_train, num_test >= 0 and num_frames >= 1, got {num_train}, {num_test}, {num_frames}")
    root = Path(root)
    for split, count in (("train", num_train), ("test", num_test)):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            video_seed = split_seed(split, index, seed)
            video = make_video(video_seed, num_frames, size)
            name = video_name(video_seed)
            if format == "png":
                (folder / name).mkdir(exist_ok=True)
                for number, frame in enumerate(video.frames):
                    write_image(folder / name / f"{number:07d}.png", frame)
            else:
                write_video(folder / f"{name}.mp4", video.frames, fps=fps)
            np.save(folder / f"{name}.landmarks.npy", video.landmarks)
    return root

