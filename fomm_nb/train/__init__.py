"""Training: random warps, losses, the trainer, distributed helpers and the ``fomm-nb train`` command."""

from .losses import (
    PyramidL1,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    keypoint_separation_loss,
    reconstruction_loss,
)
from .trainer import Trainer, TrainSettings
from .transforms import RandomTPS

__all__ = [
    "PyramidL1",
    "RandomTPS",
    "Trainer",
    "TrainSettings",
    "equivariance_jacobian_loss",
    "equivariance_value_loss",
    "keypoint_separation_loss",
    "reconstruction_loss",
]
