"""Multi-scale patch discriminator (paper, appendix: adversarial variants).

One patch discriminator per image scale; each returns its intermediate
feature maps (for the feature-matching loss) and a map of real/fake scores
(LSGAN). Optional spectral normalisation; the ``use_kp`` variant also sees the
keypoint gaussians as extra input channels.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry import kp2gaussian
from ..types import Keypoints
from .blocks import channels_at_depth

__all__ = ["DiscriminatorBlock", "Discriminator", "MultiScaleDiscriminator"]


def _maybe_spectral_norm(conv, enabled):
    # The published checkpoints hold the classic hook's weight_orig/_u/_v names.
    return nn.utils.spectral_norm(conv) if enabled else conv


class DiscriminatorBlock(nn.Module):
    """Conv (4x4, no padding), optional InstanceNorm, LeakyReLU(0.2), optional 2x2 pooling."""

    def __init__(
        self, in_channels: int, out_channels: int, norm: bool = False, kernel_size: int = 4, pool: bool = False, sn: bool = False
    ) -> None:
        super().__init__()
        self.conv = _maybe_spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size), sn)
        self.norm = nn.InstanceNorm2d(out_channels, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, 2) if self.pool else out


class Discriminator(nn.Module):
    """Patch discriminator: ``forward(x, kp=None) -> (feature_maps, prediction_map)``.

    Example:
        >>> disc = Discriminator(num_channels=3, block_expansion=4, num_blocks=2, max_features=16)
        >>> features, scores = disc(torch.rand(1, 3, 32, 32))
        >>> len(features), scores.shape
        (2, torch.Size([1, 1, 11, 11]))
    """

    def __init__(
        self,
        num_channels: int = 3,
        block_expansion: int = 64,
        num_blocks: int = 4,
        max_features: int = 512,
        sn: bool = False,
        use_kp: bool = False,
        num_kp: int = 10,
        kp_variance: float = 0.01,
        **unused: object,
    ) -> None:
        super().__init__()
        first_channels = num_channels + (num_kp if use_kp else 0)
        self.down_blocks = nn.ModuleList(
            DiscriminatorBlock(
                first_channels if i == 0 else channels_at_depth(block_expansion, i, max_features),
                channels_at_depth(block_expansion, i + 1, max_features),
                norm=i != 0,
                pool=i != num_blocks - 1,
                sn=sn,
            )
            for i in range(num_blocks)
        )
        last_channels = channels_at_depth(block_expansion, num_blocks, max_features)
        self.conv = _maybe_spectral_norm(nn.Conv2d(last_channels, 1, kernel_size=1), sn)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x: torch.Tensor, kp: Keypoints | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        out = x
        if self.use_kp:
            out = torch.cat([out, kp2gaussian(kp["value"], x.shape[2:], self.kp_variance)], dim=1)
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One :class:`Discriminator` per scale; modules are named ``discs.<scale>`` ('.' -> '-').

    ``forward(pyramid, kp=None)`` takes a dict with ``prediction_<scale>`` images
    and returns ``feature_maps_<scale>`` and ``prediction_map_<scale>``.
    """

    def __init__(self, scales: Sequence[float] = (), **kwargs: object) -> None:
        super().__init__()
        self.scales = [str(scale) for scale in scales]
        self.discs = nn.ModuleDict({scale.replace(".", "-"): Discriminator(**kwargs) for scale in self.scales})

    def forward(
        self, pyramid: dict[str, torch.Tensor], kp: Keypoints | None = None
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        out = {}
        for scale in self.scales:
            features, scores = self.discs[scale.replace(".", "-")](pyramid["prediction_" + scale], kp)
            out["feature_maps_" + scale] = features
            out["prediction_map_" + scale] = scores
        return out
