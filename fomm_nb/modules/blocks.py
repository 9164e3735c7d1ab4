"""Building blocks shared by the keypoint detector, dense motion network and generator.

The attribute names (``conv``, ``norm``, ``down_blocks``, ``up_blocks``, ...)
are those of the published checkpoints, so their state dicts load unchanged.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ResBlock2d",
    "SameBlock2d",
    "DownBlock2d",
    "UpBlock2d",
    "channels_at_depth",
    "Encoder",
    "Decoder",
    "Hourglass",
    "AntiAliasInterpolation2d",
    "ImagePyramid",
]


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv twice), same number of channels.

    Example:
        >>> ResBlock2d(8)(torch.rand(1, 8, 16, 16)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(self, channels, kernel_size=3, padding=1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(channels, affine=True)
        self.norm2 = nn.BatchNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class SameBlock2d(nn.Module):
    """Conv-BN-ReLU keeping the spatial size.

    Example:
        >>> SameBlock2d(3, 8, kernel_size=7, padding=3)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(SameBlock2d):
    """Conv-BN-ReLU, then 2x2 average pooling: halves height and width.

    Example:
        >>> DownBlock2d(3, 8)(torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 8, 8, 8])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), kernel_size=2)


class UpBlock2d(SameBlock2d):
    """Nearest-neighbour x2 upsampling, then Conv-BN-ReLU.

    Example:
        >>> UpBlock2d(8, 4)(torch.rand(1, 8, 8, 8)).shape
        torch.Size([1, 4, 16, 16])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


def channels_at_depth(block_expansion: int, level: int, max_features: int) -> int:
    """Feature count at depth ``level`` of an encoder: doubles per level, capped."""
    return min(max_features, block_expansion * 2**level)


class Encoder(nn.Module):
    """Hourglass encoder: ``num_blocks`` down blocks; returns every scale, input first.

    Example:
        >>> [f.shape[1] for f in Encoder(4, 3, num_blocks=2, max_features=16)(torch.rand(1, 3, 8, 8))]
        [3, 8, 16]
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else channels_at_depth(block_expansion, i, max_features),
                channels_at_depth(block_expansion, i + 1, max_features),
            )
            for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for block in self.down_blocks:
            features.append(block(features[-1]))
        return features


class Decoder(nn.Module):
    """Hourglass decoder: up blocks, each followed by concatenating the skip features.

    ``out_filters`` is the channel count of the output: ``block_expansion + in_features``.
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            skip_factor = 1 if i == num_blocks - 1 else 2
            blocks.append(
                UpBlock2d(
                    skip_factor * channels_at_depth(block_expansion, i + 1, max_features),
                    channels_at_depth(block_expansion, i, max_features),
                )
            )
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = list(features)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net: :class:`Encoder` then :class:`Decoder`, same spatial size out as in.

    Example:
        >>> net = Hourglass(4, in_features=3, num_blocks=2, max_features=16)
        >>> net(torch.rand(1, 3, 8, 8)).shape, net.out_filters
        (torch.Size([1, 7, 8, 8]), 7)
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then subsampling by ``1 / scale`` (an integer).

    The blur's sigma is ``(1 / scale - 1) / 2`` and its kernel is stored as the
    buffer ``weight`` (it is part of the published state dicts).

    Example:
        >>> AntiAliasInterpolation2d(3, 0.25)(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, channels, scale):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        self.pad_before = kernel_size // 2
        self.pad_after = self.pad_before - 1 if kernel_size % 2 == 0 else self.pad_before
        coords = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
        profile = torch.exp(-(coords**2) / (2 * sigma**2))
        kernel = profile[:, None] * profile[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.expand(channels, 1, -1, -1).clone())
        self.groups = channels
        self.stride = int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before, after = self.pad_before, self.pad_after
        blurred = F.conv2d(F.pad(x, (before, after, before, after)), self.weight, groups=self.groups)
        return blurred[:, :, :: self.stride, :: self.stride]


class ImagePyramid(nn.Module):
    """The image at several scales, anti-aliased: ``{scale: (B, C, H*s, W*s)}``.

    Used by the training losses (reconstruction, perceptual, adversarial),
    which compare a prediction with its driving frame at every scale.

    Example:
        >>> pyramid = ImagePyramid((1, 0.5))(torch.rand(2, 3, 16, 16))
        >>> {scale: tuple(image.shape) for scale, image in pyramid.items()}
        {1: (2, 3, 16, 16), 0.5: (2, 3, 8, 8)}
    """

    def __init__(self, scales: tuple[float, ...] | list[float], channels: int = 3) -> None:
        super().__init__()
        self.scales = tuple(scales)
        self.downs = nn.ModuleDict(
            {str(s).replace(".", "-"): AntiAliasInterpolation2d(channels, s) for s in self.scales if s != 1}
        )

    def forward(self, image: torch.Tensor) -> dict[float, torch.Tensor]:
        return {s: image if s == 1 else self.downs[str(s).replace(".", "-")](image) for s in self.scales}
