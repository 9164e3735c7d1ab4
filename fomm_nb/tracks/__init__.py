"""Motion as data: a driving video's keypoints over time, to see, measure, smooth, save, edit and replay.

* :mod:`.track`: :class:`MotionTrack` and its ``.npz`` file.
* :mod:`.polar`: Jacobians as rotation angle and log-stretch.
* :mod:`.filters`: One-Euro, Savitzky-Golay, Gaussian and Kalman smoothing.
* :mod:`.keyframes`: tracks made or edited from keyframes.
* :mod:`.measures`: jitter, speed, rotation and scale, lag.

Example:
    >>> import numpy as np
    >>> track = MotionTrack(np.zeros((8, 10, 2)), None, fps=25.0, model="faces-13k", fingerprint="0" * 16)
    >>> smooth(track, "one-euro").value.shape
    (8, 10, 2)
"""

from .filters import (CAUSAL_SMOOTHING, DEFAULT_SMOOTHING, FILTERS, Gaussian, Kalman, KeypointSmoother, OneEuro,
                      SavitzkyGolay, make_filter, smooth)
from .keyframes import Keyframe, interpolate, posed, track_from_keyframes, with_keyframes
from .measures import jitter, lag, rotation_and_scales, speed
from .track import TRACK_FORMAT_VERSION, MotionTrack, TrackError, detector_fingerprint

__all__ = [
    "MotionTrack",
    "TrackError",
    "TRACK_FORMAT_VERSION",
    "detector_fingerprint",
    "FILTERS",
    "DEFAULT_SMOOTHING",
    "CAUSAL_SMOOTHING",
    "OneEuro",
    "SavitzkyGolay",
    "Gaussian",
    "Kalman",
    "KeypointSmoother",
    "make_filter",
    "smooth",
    "Keyframe",
    "interpolate",
    "posed",
    "track_from_keyframes",
    "with_keyframes",
    "jitter",
    "lag",
    "rotation_and_scales",
    "speed",
]
