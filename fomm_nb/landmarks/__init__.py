"""The independent landmark detector that evaluation reads landmarks with (see :mod:`.detector`).

Example:
    >>> from fomm_nb.landmarks import load_landmark_detector, read_landmarks
    >>> from fomm_nb.data import make_video
    >>> video = make_video(1_000_000, num_frames=2)
    >>> found = read_landmarks(load_landmark_detector(), video.frames)
    >>> bool(abs(found - video.landmarks).max() < 3)
    True
"""

from .detector import (DETECTOR_PATH, LandmarkDetector, load_landmark_detector, mirror_order, read_landmarks,
                       save_landmark_detector)
from .training import CONDITIONS, degrade, gaussian_blur, held_out_errors, train_landmark_detector, training_frames

__all__ = ["DETECTOR_PATH", "LandmarkDetector", "load_landmark_detector", "mirror_order", "read_landmarks",
           "save_landmark_detector",
           "CONDITIONS", "degrade", "gaussian_blur", "held_out_errors", "train_landmark_detector", "training_frames"]
