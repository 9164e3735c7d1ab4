"""Data: procedural faces with ground truth, and folders of videos in the published layout."""

from .faces_dataset import ProceduralFaces
from .procedural import (
    LANDMARK_NAMES,
    Identity,
    Pose,
    ProceduralVideo,
    landmarks,
    make_video,
    random_trajectory,
    render,
    split_seed,
    video_parameters,
)

__all__ = [
    "LANDMARK_NAMES",
    "Identity",
    "Pose",
    "ProceduralFaces",
    "ProceduralVideo",
    "landmarks",
    "make_video",
    "random_trajectory",
    "render",
    "split_seed",
    "video_parameters",
]
