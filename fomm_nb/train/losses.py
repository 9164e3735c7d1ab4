"""Training losses: image-pyramid reconstruction and keypoint equivariance (paper, section 3.4).

The published models use VGG-19 perceptual features for reconstruction
(:mod:`fomm_nb.train.perceptual`); its ImageNet weights cannot be downloaded
here, so without a local copy :func:`reconstruction_loss` gives the documented
substitute, :class:`PyramidL1` — L1 on the image and on its horizontal and
vertical gradients at every pyramid scale (the coarse scales reach motions
larger than an edge's width; the gradients keep edges sharp, a part of what
perceptual features reward).

Example:
    >>> loss = PyramidL1(scales=(1, 0.5))
    >>> float(loss(torch.ones(1, 3, 8, 8), torch.ones(1, 3, 8, 8)))
    0.0
"""

import os
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry import inverse_2x2
from ..modules.blocks import ImagePyramid
from .perceptual import PerceptualPyramid, Vgg19Features, find_vgg19_weights
from .transforms import RandomTPS

__all__ = [
    "PyramidL1",
    "reconstruction_loss",
    "keypoint_separation_loss",
    "equivariance_value_loss",
    "equivariance_jacobian_loss",
]


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]


class PyramidL1(nn.Module):
    """``weight`` times the mean over scales of L1(image) + L1(image gradients); images ``(B, C, H, W)``."""

    def __init__(
        self, scales: Sequence[float] = (1, 0.5, 0.25), gradient_weight: float = 1.0, weight: float = 1.0
    ) -> None:
        super().__init__()
        self.pyramid = ImagePyramid(scales)
        self.gradient_weight = gradient_weight
        self.weight = weight

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = 0.0
        predicted, real = self.pyramid(prediction), self.pyramid(target)
        for scale in self.pyramid.scales:
            total = total + F.l1_loss(predicted[scale], real[scale])
            for grad_p, grad_t in zip(_gradients(predicted[scale]), _gradients(real[scale])):
                total = total + self.gradient_weight * F.l1_loss(grad_p, grad_t)
        return self.weight * total / len(self.pyramid.scales)


def reconstruction_loss(
    scales: Sequence[float],
    l1_weight: float = 10.0,
    perceptual_weights: Sequence[float] = (10, 10, 10, 10, 10),
    vgg19_weights: str | os.PathLike | None = "auto",
) -> tuple[PyramidL1 | PerceptualPyramid, str]:
    """The reconstruction loss module: VGG-19 perceptual where its weights are local, else :class:`PyramidL1`.

    ``vgg19_weights`` is a file, ``"auto"`` (search, see
    :func:`~fomm_nb.train.perceptual.find_vgg19_weights`) or ``None`` (never
    perceptual). Returns ``(module, name)``, ``name`` being ``"perceptual"`` or
    ``"pyramid_l1"``; ``module(prediction, target)`` is the weighted loss.

    Example:
        >>> _, name = reconstruction_loss((1, 0.5), vgg19_weights=None)
        >>> name
        'pyramid_l1'
    """
    if vgg19_weights == "auto":
        vgg19_weights = find_vgg19_weights()
    if vgg19_weights is not None and any(perceptual_weights):
        return PerceptualPyramid(Vgg19Features(vgg19_weights), scales, perceptual_weights), "perceptual"
    return PyramidL1(scales, weight=l1_weight), "pyramid_l1"


def keypoint_separation_loss(kp: Mapping[str, torch.Tensor], sigma: float = 0.1) -> torch.Tensor:
    """Mean over keypoint pairs of ``exp(-|p_i - p_j|^2 / (2 sigma^2))``: 1 when keypoints coincide, 0 when far apart.

    Not in the published recipe: a small weight on it keeps the keypoints from
    collapsing onto one part early in short CPU runs. ``kp["value"]`` is
    ``(B, K, 2)`` in [-1, 1]; ``sigma`` in the same units.

    Example:
        >>> float(keypoint_separation_loss({"value": torch.tensor([[[-1.0, 0.0], [1.0, 0.0]]])}))
        0.0
    """
    value = kp["value"]
    num_kp = value.shape[1]
    squared = ((value.unsqueeze(1) - value.unsqueeze(2)) ** 2).sum(-1)  # (B, K, K)
    off_diagonal = 1 - torch.eye(num_kp, dtype=value.dtype, device=value.device)
    closeness = torch.exp(-squared / (2 * sigma**2)) * off_diagonal
    return closeness.sum((1, 2)).mean() / (num_kp * (num_kp - 1))


def equivariance_value_loss(
    kp_driving: Mapping[str, torch.Tensor], kp_transformed: Mapping[str, torch.Tensor], transform: RandomTPS
) -> torch.Tensor:
    """``|p_D - T(p_{T^-1 D})|``: keypoints of the warped frame, mapped back, match the frame's.

    ``kp_driving`` holds the frame's keypoints, ``kp_transformed`` those of
    ``transform.warp_image(frame)``; values ``(B, K, 2)``. Returns a scalar.
    """
    return (kp_driving["value"] - transform.warp_coordinates(kp_transformed["value"])).abs().mean()


def equivariance_jacobian_loss(
    kp_driving: Mapping[str, torch.Tensor], kp_transformed: Mapping[str, torch.Tensor], transform: RandomTPS
) -> torch.Tensor:
    """``|I - J_D^-1 (dT J_{T^-1 D})|``: the same for the Jacobians ``(B, K, 2, 2)``; a scalar."""
    warped_jacobian = transform.jacobian(kp_transformed["value"]) @ kp_transformed["jacobian"]
    product = inverse_2x2(kp_driving["jacobian"]) @ warped_jacobian
    return (torch.eye(2, device=product.device) - product).abs().mean()
