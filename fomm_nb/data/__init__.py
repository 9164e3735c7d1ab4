"""Data: procedural faces with ground truth, and folders of videos in the published layout."""

from .cartoon import HAIR_STYLES
from .faces_dataset import ProceduralFaces
from .frames_folder import write_frames_dataset
from .procedural import (
    LANDMARK_NAMES,
    Identity,
    Pose,
    ProceduralVideo,
    landmarks,
    make_video,
    pupils,
    random_trajectory,
    render,
    split_seed,
    video_parameters,
    with_pose,
)

__all__ = [
    "HAIR_STYLES",
    "LANDMARK_NAMES",
    "Identity",
    "Pose",
    "ProceduralFaces",
    "ProceduralVideo",
    "landmarks",
    "make_video",
    "pupils",
    "random_trajectory",
    "render",
    "split_seed",
    "video_parameters",
    "with_pose",
    "write_frames_dataset",
]
