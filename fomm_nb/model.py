"""The First Order Motion Model as one module: keypoint detector, generator, discriminator.

Example:
    >>> from fomm_nb.config import load_config
    >>> model = build_model(load_config("vox"))
    >>> sorted(name for name, _ in model.named_children())
    ['generator', 'kp_detector']
"""

import torch
from torch import nn

from .config import ModelConfig
from .modules.discriminator import MultiScaleDiscriminator
from .modules.generator import OcclusionAwareGenerator
from .modules.keypoint_detector import KPDetector
from .types import GeneratorOutput

__all__ = ["FirstOrderModel", "build_model"]


class FirstOrderModel(nn.Module):
    """Holds ``kp_detector``, ``generator`` and optionally ``discriminator``, plus their ``config``.

    The parts keep the published call conventions:
    ``model.kp_detector(image)`` -> :class:`~fomm_nb.types.Keypoints` (``kp["value"]``,
    ``kp["jacobian"]``) and ``model.generator(source, kp_source=..., kp_driving=...)`` ->
    :class:`~fomm_nb.types.GeneratorOutput` (``out["prediction"]``, ...).
    """

    def __init__(self, config: ModelConfig, with_discriminator: bool = False) -> None:
        super().__init__()
        self.config = config
        common = config.common_params
        self.kp_detector = KPDetector(**config.kp_detector_params, **common)
        self.generator = OcclusionAwareGenerator(**config.generator_params, **common)
        if with_discriminator:
            self.discriminator = MultiScaleDiscriminator(**config.discriminator_params, **common)
        else:
            self.discriminator = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> GeneratorOutput:
        """Reconstruct ``driving`` ``(B, C, H, W)`` from ``source`` by absolute keypoint motion."""
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        return self.generator(source, kp_source=kp_source, kp_driving=kp_driving)


def build_model(config: ModelConfig, with_discriminator: bool = False) -> FirstOrderModel:
    """A freshly initialised :class:`FirstOrderModel` for ``config``, in eval mode."""
    return FirstOrderModel(config, with_discriminator).eval()
