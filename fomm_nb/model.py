"""The First Order Motion Model as one module: keypoint detector, generator, discriminator.

Example:
    >>> from fomm_nb.config import load_config
    >>> model = build_model(load_config("vox"))
    >>> sorted(name for name, _ in model.named_children())
    ['generator', 'kp_detector']
"""

from torch import nn

from .modules.discriminator import MultiScaleDiscriminator
from .modules.generator import OcclusionAwareGenerator
from .modules.keypoint_detector import KPDetector


class FirstOrderModel(nn.Module):
    """Holds ``kp_detector``, ``generator`` and optionally ``discriminator``, plus their ``config``.

    The parts keep the published call conventions:
    ``model.kp_detector(image)`` -> ``{"value", "jacobian"}`` and
    ``model.generator(source, kp_source=..., kp_driving=...)`` -> ``{"prediction", ...}``.
    """

    def __init__(self, config, with_discriminator=False):
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
    def device(self):
        return next(self.parameters()).device

    @property
    def image_size(self):
        return self.config.image_size

    def forward(self, source, driving):
        """Reconstruct ``driving`` ``(B, C, H, W)`` from ``source`` by absolute keypoint motion."""
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        return self.generator(source, kp_source=kp_source, kp_driving=kp_driving)


def build_model(config, with_discriminator=False):
    """A freshly initialised :class:`FirstOrderModel` for ``config``, in eval mode."""
    return FirstOrderModel(config, with_discriminator).eval()
