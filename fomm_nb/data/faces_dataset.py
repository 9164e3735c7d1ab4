"""Torch data sets over the procedural faces: random frame pairs for training, whole clips for evaluation.

Example:
    >>> dataset = ProceduralFaces("train", num_videos=10, size=64)
    >>> item = dataset[0]
    >>> item["source"].shape, item["driving_landmarks"].shape
    (torch.Size([3, 64, 64]), torch.Size([13, 2]))
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .procedural import (
    TEST_SEED_OFFSET,
    ProceduralVideo,
    landmarks,
    make_video,
    render,
    split_seed,
    video_parameters,
)

__all__ = ["ProceduralFaces"]


class ProceduralFaces(Dataset):
    """Pairs of frames (source, driving) from procedural videos, rendered on the fly.

    Video ``i`` of a split is ``make_video(split_seed(split, i, seed), frames_per_video, size)``;
    the two splits never share a video. Item ``i`` draws two different random
    frames of video ``i`` and renders only those; each call draws new ones,
    from torch's random generator, so DataLoader workers (seeded apart by
    torch) differ, and ``torch.manual_seed`` makes a run repeatable.

    Items are dicts of tensors: ``source``, ``driving`` ``(3, H, W)`` float32
    in [0, 1], and their ``source_landmarks``, ``driving_landmarks`` ``(L, 2)``
    in pixels ``(x, y)`` (see ``LANDMARK_NAMES``).
    """

    def __init__(
        self, split: str = "train", num_videos: int = 10_000, frames_per_video: int = 64, size: int = 64, seed: int = 0
    ) -> None:
        split_seed(split, 0, seed)  # checks split and seed
        if not 1 <= num_videos <= TEST_SEED_OFFSET:
            raise InputError(f"num_videos must be in [1, {TEST_SEED_OFFSET}], got {num_videos}")
        if frames_per_video < 2:
            raise InputError(f"frames_per_video must be at least 2 (a source and a driving frame), got {frames_per_video}")
        if not isinstance(size, int) or size < 16:
            raise InputError(f"size must be an integer of at least 16 pixels, got {size!r}")
        self.split, self.num_videos, self.seed = split, num_videos, seed
        self.frames_per_video, self.size = frames_per_video, size

    def __len__(self) -> int:
        return self.num_videos

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.num_videos:
            raise IndexError(f"video {index} of a data set of {self.num_videos}")
        identity, poses = video_parameters(split_seed(self.split, index, self.seed), self.frames_per_video)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,))))
        item = {}
        for name, frame in zip(("source", "driving"), rng.choice(self.frames_per_video, size=2, replace=False)):
            item[name] = torch.from_numpy(render(identity, poses[frame], self.size)).permute(2, 0, 1)  # (3, H, W)
            item[f"{name}_landmarks"] = torch.from_numpy(landmarks(identity, poses[frame], self.size))  # (L, 2)
        return item

    def video(self, index: int, num_frames: int | None = None) -> ProceduralVideo:
        """Whole clip ``index`` of the split (all ``frames_per_video`` frames unless ``num_frames``): a ``ProceduralVideo``.

        Example:
            >>> ProceduralFaces("test", num_videos=3).video(2, num_frames=4).frames.shape
            (4, 64, 64, 3)
        """
        if not 0 <= index < self.num_videos:
            raise IndexError(f"video {index} of a data set of {self.num_videos}")
        return make_video(split_seed(self.split, index, self.seed), num_frames or self.frames_per_video, self.size)
