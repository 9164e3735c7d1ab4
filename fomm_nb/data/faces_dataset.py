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

from .procedural import landmarks, make_video, render, split_seed, video_parameters


class ProceduralFaces(Dataset):
    """Pairs of frames (source, driving) from procedural videos, rendered on the fly.

    Item ``i`` draws two random frames of video ``i`` of the split; each call
    draws new ones (seeded from torch's RNG, so DataLoader workers differ).
    Returns ``source``, ``driving`` ``(3, H, W)`` in [0, 1] and their
    ``source_landmarks``, ``driving_landmarks`` ``(13, 2)`` in pixels.
    """

    def __init__(self, split="train", num_videos=10_000, frames_per_video=64, size=64):
        self.split = split
        self.num_videos = num_videos
        self.frames_per_video = frames_per_video
        self.size = size

    def __len__(self):
        return self.num_videos

    def __getitem__(self, index):
        identity, poses = video_parameters(split_seed(self.split, index), self.frames_per_video)
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        first, second = rng.choice(self.frames_per_video, size=2, replace=False)
        item = {}
        for name, t in (("source", first), ("driving", second)):
            image = render(identity, poses[t], self.size)
            item[name] = torch.from_numpy(image).permute(2, 0, 1)
            item[f"{name}_landmarks"] = torch.from_numpy(landmarks(identity, poses[t], self.size).astype(np.float32))
        return item

    def video(self, index, num_frames=None):
        """Whole clip ``index`` of the split: a :class:`~fomm_nb.data.procedural.ProceduralVideo`."""
        return make_video(split_seed(self.split, index), num_frames or self.frames_per_video, self.size)
