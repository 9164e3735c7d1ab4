"""Optional adversarial training: least-squares GAN and feature matching (paper, appendix; "-adv" models).

The :class:`~fomm_nb.modules.discriminator.MultiScaleDiscriminator` scores
patches of an image pyramid (``{"prediction_<scale>": (B, C, h, w)}``) and
returns, per scale, its feature maps and a score map. LSGAN pushes scores of
real frames to 1 and of generated frames to 0; the generator is rewarded for
scores near 1, and for discriminator features that match the real frame's.

Example:
    >>> real = {"prediction_map_1": torch.ones(2, 1, 5, 5)}
    >>> fake = {"prediction_map_1": torch.zeros(2, 1, 5, 5)}
    >>> float(discriminator_loss(real, fake)), float(generator_adversarial_loss(fake))
    (0.0, 1.0)
"""

from collections.abc import Mapping, Sequence

import torch

from ..modules.blocks import ImagePyramid

__all__ = ["discriminator_loss", "generator_adversarial_loss", "feature_matching_loss", "DiscriminatorInput"]


def _score_maps(output: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value for name, value in output.items() if name.startswith("prediction_map_")}


def discriminator_loss(real: Mapping[str, torch.Tensor], fake: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``sum_scales mean((1 - D(real))^2 + D(fake)^2)`` from two discriminator outputs."""
    fake_maps = _score_maps(fake)
    return sum(((1 - real[name]) ** 2 + fake_maps[name] ** 2).mean() for name in _score_maps(real))


def generator_adversarial_loss(fake: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``sum_scales mean((1 - D(fake))^2)``."""
    return sum(((1 - value) ** 2).mean() for value in _score_maps(fake).values())


def feature_matching_loss(
    real: Mapping[str, list[torch.Tensor]], fake: Mapping[str, list[torch.Tensor]], weights: Sequence[float]
) -> torch.Tensor:
    """``sum_scales sum_i weights[i] * mean|F_i(real) - F_i(fake)|``, real features detached."""
    total = 0.0
    for name, real_features in real.items():
        if not name.startswith("feature_maps_"):
            continue
        for weight, true, generated in zip(weights, real_features, fake[name]):
            if weight:
                total = total + weight * (true.detach() - generated).abs().mean()
    return total


class DiscriminatorInput(torch.nn.Module):
    """The image pyramid the discriminator reads: ``{"prediction_<scale>": image}`` for its scales."""

    def __init__(self, scales: Sequence[float]) -> None:
        super().__init__()
        self.scales = [float(scale) if "." in str(scale) else int(scale) for scale in scales]
        self.pyramid = ImagePyramid(self.scales)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"prediction_{scale}": value for scale, value in self.pyramid(image).items()}
