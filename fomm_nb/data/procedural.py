"""Procedural cartoon faces: videos rendered from parameters, with ground truth.

A video is one :class:`~fomm_nb.data.cartoon.Identity` moving along a smooth
random trajectory of :class:`~fomm_nb.data.cartoon.Pose` s, drawn by
:func:`~fomm_nb.data.painter.render` with exact
:func:`~fomm_nb.data.cartoon.landmarks`. Everything follows from one seed.
Because frames are rendered, any identity can be drawn in any other video's
poses (:meth:`ProceduralVideo.render_as`): the ground truth for
cross-identity animation that no recorded data set has.

Example:
    >>> video = make_video(seed=3, num_frames=4, size=64)
    >>> video.frames.shape, video.landmarks.shape
    ((4, 64, 64, 3), (4, 13, 2))
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .cartoon import LANDMARK_NAMES, Identity, Pose, landmarks, pupils, with_pose
from .painter import render

__all__ = [
    "LANDMARK_NAMES",
    "Identity",
    "Pose",
    "ProceduralVideo",
    "landmarks",
    "make_video",
    "pupils",
    "random_trajectory",
    "render",
    "split_seed",
    "video_parameters",
    "with_pose",
]

TEST_SEED_OFFSET = 1_000_000  # test videos use seeds from here on: disjoint from training
SEEDS_PER_SET = 2 * TEST_SEED_OFFSET  # a data-set seed shifts both splits by this much
CLIP = 32  # frequencies are in cycles per this many frames
BLINK = (0.5, 1.0, 1.0, 0.5)  # the eyelids over the frames of one blink


def _smooth(rng, t, amplitude, centre=0.0, frequencies=(0.25, 1.25)):
    """A sum of three random sinusoids in ``centre ± amplitude`` over times ``t`` (in clips)."""
    freqs = rng.uniform(*frequencies, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    weights = rng.dirichlet([1, 1, 1])
    return centre + amplitude * (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)


def _blinks(rng, num_frames, mean_gap=40):
    """Eyelid closure per frame: blinks at random times, about one every ``mean_gap`` frames."""
    closed = np.zeros(num_frames)
    start = rng.exponential(mean_gap / 2)
    while start < num_frames:
        begin = int(start)
        closed[begin : begin + len(BLINK)] = BLINK[: num_frames - begin]
        start += len(BLINK) + rng.exponential(mean_gap)
    return closed


def random_trajectory(rng: np.random.Generator, num_frames: int) -> list[Pose]:
    """Smooth random poses ``[Pose] * num_frames``: each parameter a sum of low-frequency sinusoids.

    Ranges: translation ±0.15 (x) and ±0.12 (y), angle ±20 degrees, scale
    0.85-1.15, yaw ±0.5, mouth 0-1 (closed a third of the time), gaze ±0.8
    (x) and ±0.5 (y), blinks every 40 frames or so. A longer trajectory from
    the same draws starts with the shorter one.

    Example:
        >>> poses = random_trajectory(np.random.default_rng(0), 8)
        >>> len(poses), isinstance(poses[0], Pose)
        (8, True)
    """
    t = np.arange(num_frames) / CLIP
    tx, ty = _smooth(rng, t, 0.15), _smooth(rng, t, 0.12)
    angle = _smooth(rng, t, math.radians(20))
    scale = _smooth(rng, t, 0.15, centre=1.0)
    yaw = _smooth(rng, t, 0.5)
    mouth = np.clip(_smooth(rng, t, 0.9, centre=0.2, frequencies=(0.5, 2.0)), 0, 1)
    gaze_x, gaze_y = _smooth(rng, t, 0.8), _smooth(rng, t, 0.5)
    blink = _blinks(np.random.default_rng(rng.integers(2**63)), num_frames)
    columns = np.stack([tx, ty, angle, scale, yaw, mouth, blink, gaze_x, gaze_y], axis=1).tolist()
    return [Pose(*row) for row in columns]


@dataclass
class ProceduralVideo:
    """A rendered clip and everything it was made from.

    ``frames`` ``(T, H, W, 3)`` float32 in [0, 1]; ``landmarks`` ``(T, L, 2)``
    float32 pixels ``(x, y)``, named by ``LANDMARK_NAMES``; the ``identity``
    and the ``poses`` (T of them).
    """

    frames: np.ndarray
    landmarks: np.ndarray
    identity: Identity
    poses: list[Pose]

    def render_as(self, identity: Identity) -> np.ndarray:
        """This clip's motion performed by another ``identity``: ``(T, H, W, 3)``, the cross-identity ground truth.

        Example:
            >>> other = Identity.random(np.random.default_rng(9))
            >>> make_video(2, num_frames=3).render_as(other).shape
            (3, 64, 64, 3)
        """
        size = self.frames.shape[1]
        return np.stack([render(identity, pose, size) for pose in self.poses])


def video_parameters(seed: int, num_frames: int = 32) -> tuple[Identity, list[Pose]]:
    """The identity and poses of video ``seed``, without rendering: ``(Identity, [Pose])``.

    Example:
        >>> identity, poses = video_parameters(7, num_frames=5)
        >>> len(poses)
        5
    """
    rng = np.random.default_rng(seed)
    return Identity.random(rng), random_trajectory(rng, num_frames)


def make_video(seed: int, num_frames: int = 32, size: int = 64) -> ProceduralVideo:
    """Render video ``seed`` (deterministic): a :class:`ProceduralVideo`.

    Example:
        >>> make_video(1, num_frames=2, size=128).frames.shape
        (2, 128, 128, 3)
    """
    identity, poses = video_parameters(seed, num_frames)
    frames = np.stack([render(identity, pose, size) for pose in poses])
    points = np.stack([landmarks(identity, pose, size) for pose in poses])
    return ProceduralVideo(frames, points, identity, poses)


def split_seed(split: str, index: int, seed: int = 0) -> int:
    """The seed of video ``index`` of ``split`` ('train' or 'test') in data set ``seed``.

    Training and test seeds never meet: test seeds start at ``TEST_SEED_OFFSET``,
    and each data-set seed has its own block of ``SEEDS_PER_SET``.

    Example:
        >>> split_seed("train", 5), split_seed("test", 5), split_seed("train", 5, seed=1)
        (5, 1000005, 2000005)
    """
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    if not 0 <= index < TEST_SEED_OFFSET:
        raise InputError(f"video index must be in [0, {TEST_SEED_OFFSET}), got {index}")
    if seed < 0:
        raise InputError(f"seed must be 0 or more, got {seed}")
    return seed * SEEDS_PER_SET + (TEST_SEED_OFFSET if split == "test" else 0) + index
