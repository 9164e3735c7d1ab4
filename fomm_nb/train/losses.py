"""Training losses: image-pyramid reconstruction and keypoint equivariance (paper, section 3.4).

The published models use VGG-19 perceptual features for reconstruction; its
ImageNet weights cannot be downloaded here, so the default is
:class:`PyramidL1` — L1 on the image and on its horizontal and vertical
gradients at every pyramid scale (the gradients keep edges sharp, a part of
what perceptual features reward). A perceptual network can be plugged in
through :class:`ReconstructionLoss`'s ``features`` argument.

Example:
    >>> loss = PyramidL1(scales=(1, 0.5))
    >>> float(loss(torch.ones(1, 3, 8, 8), torch.ones(1, 3, 8, 8)))
    0.0
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry import inverse_2x2
from ..modules.blocks import AntiAliasInterpolation2d


class ImagePyramid(nn.Module):
    """The image at several scales (anti-aliased): ``{scale: (B, C, H*s, W*s)}``."""

    def __init__(self, scales, channels=3):
        super().__init__()
        self.scales = tuple(scales)
        self.downs = nn.ModuleDict(
            {str(s).replace(".", "-"): AntiAliasInterpolation2d(channels, s) for s in self.scales if s != 1}
        )

    def forward(self, image):
        return {s: image if s == 1 else self.downs[str(s).replace(".", "-")](image) for s in self.scales}


def _gradients(image):
    return image[..., :, 1:] - image[..., :, :-1], image[..., 1:, :] - image[..., :-1, :]


class PyramidL1(nn.Module):
    """Mean over scales of L1(image) + L1(image gradients)."""

    def __init__(self, scales=(1, 0.5, 0.25), gradient_weight=1.0):
        super().__init__()
        self.pyramid = ImagePyramid(scales)
        self.gradient_weight = gradient_weight

    def forward(self, prediction, target):
        total = 0.0
        predicted, real = self.pyramid(prediction), self.pyramid(target)
        for scale in self.pyramid.scales:
            total = total + F.l1_loss(predicted[scale], real[scale])
            for grad_p, grad_t in zip(_gradients(predicted[scale]), _gradients(real[scale])):
                total = total + self.gradient_weight * F.l1_loss(grad_p, grad_t)
        return total / len(self.pyramid.scales)


def keypoint_separation_loss(kp, sigma=0.1):
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


def equivariance_value_loss(kp_driving, kp_transformed, transform):
    """``|p_D - T(p_{T^-1 D})|``: keypoints of the warped frame, mapped back, match the frame's."""
    return (kp_driving["value"] - transform.warp_coordinates(kp_transformed["value"])).abs().mean()


def equivariance_jacobian_loss(kp_driving, kp_transformed, transform):
    """``|I - J_D^-1 (dT J_{T^-1 D})|``: the same for the local affine maps."""
    warped_jacobian = transform.jacobian(kp_transformed["value"]) @ kp_transformed["jacobian"]
    product = inverse_2x2(kp_driving["jacobian"]) @ warped_jacobian
    return (torch.eye(2, device=product.device) - product).abs().mean()
