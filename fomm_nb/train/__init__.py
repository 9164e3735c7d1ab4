"""Training: losses, random warps, the trainer and the command."""

from .losses import PyramidL1, equivariance_jacobian_loss, equivariance_value_loss
from .trainer import Trainer, TrainSettings
from .transforms import RandomTPS

__all__ = ["PyramidL1", "RandomTPS", "Trainer", "TrainSettings", "equivariance_jacobian_loss", "equivariance_value_loss"]
