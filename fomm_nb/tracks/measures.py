"""Measures of motion over time: jitter, speed, rotation and scale, lag.

Points over time are arrays ``(T, K, 2)``: keypoints in ``[-1, 1]`` or
landmarks in pixels; every measure keeps their unit.

Example:
    >>> t = np.arange(20, dtype=float)
    >>> points = np.stack([t, np.zeros(20)], -1)[:, None]  # (T, K, 2): one point moving at constant speed
    >>> jitter(points), speed(points, fps=10.0)[0]
    (array([0.]), array([10.]))
"""

import numpy as np

from .polar import rotation_and_scales

__all__ = ["jitter", "speed", "rotation_and_scales", "lag"]


def jitter(points: np.ndarray) -> np.ndarray:
    """High-frequency energy per point: the mean norm of the second difference over time, ``(K,)``.

    ``|p[t+1] - 2 p[t] + p[t-1]|`` is zero for motion at constant speed and
    large when a point shakes from frame to frame.

    Example:
        >>> shaking = np.array([0.0, 1.0, 0.0, 1.0, 0.0])[:, None, None] * [1.0, 0.0]  # (5, 1, 2)
        >>> jitter(shaking)
        array([2.])
    """
    points = np.asarray(points, np.float64)
    return np.linalg.norm(np.diff(points, 2, axis=0), axis=-1).mean(axis=0)


def speed(points: np.ndarray, fps: float) -> np.ndarray:
    """Speed of each point between frames, ``(T - 1, K)``, in units per second."""
    return np.linalg.norm(np.diff(np.asarray(points, np.float64), axis=0), axis=-1) * fps


def lag(points: np.ndarray, reference: np.ndarray, max_shift: int = 8) -> int:
    """The frame shift that best aligns ``points`` with ``reference`` (both ``(T, ...)``): positive when ``points`` is late.

    It minimises the mean squared difference between ``points[t]`` and
    ``reference[t - shift]`` over the frames both cover; only the motion
    counts (each signal's mean is removed first).

    Example:
        >>> wave = np.sin(np.arange(40) / 3)
        >>> lag(wave[:-2], wave[2:]), lag(wave[2:], wave[:-2])
        (2, -2)
    """
    points = np.asarray(points, np.float64)
    reference = np.asarray(reference, np.float64)
    points, reference = points - points.mean(0), reference - reference.mean(0)
    length = min(len(points), len(reference))
    max_shift = min(max_shift, length // 2)

    def error(shift):
        late, early = points[max(shift, 0) : length + min(shift, 0)], reference[max(-shift, 0) : length - max(shift, 0)]
        return np.mean((late - early) ** 2)

    return min(range(-max_shift, max_shift + 1), key=lambda shift: (error(shift), abs(shift)))
