"""Videos on disk in the published layout: ``root/train`` and ``root/test``.

Each entry of a split folder is one video: an mp4/gif/webm/... file or a
folder of frames. With ``id_sampling`` the names ``ID#anything`` are grouped
by ``ID`` and an epoch visits each identity once (as published for VoxCeleb
and Tai-Chi). Items are pairs of random frames of one video, augmented alike:
time flip (the pair swapped), horizontal flip, and colour jitter.

Example:
    >>> dataset = VideoFolder("data/faces", split="train", size=64)  # doctest: +SKIP
    >>> dataset[0]["source"].shape  # doctest: +SKIP
    torch.Size([3, 64, 64])
"""

import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from ..media import IMAGE_SUFFIXES, fit_frame, read_video

__all__ = ["VIDEO_SUFFIXES", "colour_jitter", "VideoFolder"]

VIDEO_SUFFIXES = {".mp4", ".gif", ".webm", ".mov", ".avi", ".mkv"}


def _is_video(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES.union(IMAGE_SUFFIXES)


# RGB -> YIQ: luma and two chroma axes; a hue shift is a rotation of the chroma plane.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _rotate_hue(frames: np.ndarray, turns: float) -> np.ndarray:
    """Shift the hue of ``frames`` ``(..., 3)`` by about ``turns`` of the colour wheel, keeping the luma.

    Example:
        >>> red = np.array([[0.8, 0.2, 0.2]], dtype=np.float32)
        >>> bool(np.allclose(_rotate_hue(red, 1.0), red, atol=1e-6))
        True
    """
    angle = -2 * np.pi * turns  # the YIQ chroma plane turns opposite to the HSV hue
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    matrix = np.linalg.inv(_RGB_TO_YIQ) @ rotation @ _RGB_TO_YIQ
    return frames @ matrix.T.astype(frames.dtype)


def colour_jitter(
    frames: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.1,
    hue: float = 0.1,
) -> np.ndarray:
    """The same random colour change applied to every frame of ``frames`` ``(T, H, W, 3)`` in [0, 1]."""
    out = frames * (1 + rng.uniform(-brightness, brightness))
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    out = (out - mean) * (1 + rng.uniform(-contrast, contrast)) + mean
    grey = out.mean(axis=3, keepdims=True)
    out = (out - grey) * (1 + rng.uniform(-saturation, saturation)) + grey
    out = _rotate_hue(out, rng.uniform(-hue, hue))
    return np.clip(out, 0, 1).astype(np.float32)


class VideoFolder(Dataset):
    """Pairs of frames from the videos of ``root/split`` (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        size: int = 256,
        id_sampling: bool = False,
        augment: bool = True,
        crop: str = "crop",
    ) -> None:
        folder = Path(root) / split
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder; a data set needs {root}/train and {root}/test")
        self.videos = sorted(p for p in folder.iterdir() if _is_video(p) and not p.name.startswith("."))
        if not self.videos:
            raise InputError(f"{folder}: holds no videos (mp4, gif, or folders of frames)")
        self.size, self.augment, self.crop = size, augment, crop
        self.groups = None
        if id_sampling:
            groups = defaultdict(list)
            for video in self.videos:
                groups[video.name.split("#")[0]].append(video)
            self.groups = [groups[key] for key in sorted(groups)]

    def __len__(self) -> int:
        return len(self.groups) if self.groups is not None else len(self.videos)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        video = self.videos[index] if self.groups is None else self.groups[index][rng.integers(len(self.groups[index]))]
        frames, _ = read_video(video)
        chosen = rng.choice(len(frames), size=2, replace=len(frames) < 2)
        pair = np.stack([fit_frame(frames[i], self.size, mode=self.crop) for i in chosen])
        if self.augment:
            if rng.random() < 0.5:
                pair = pair[::-1]
            if rng.random() < 0.5:
                pair = pair[:, :, ::-1]
            pair = colour_jitter(pair, rng)
        tensors = torch.from_numpy(np.ascontiguousarray(pair)).permute(0, 3, 1, 2)
        return {"source": tensors[0], "driving": tensors[1], "name": video.name}
