"""Occlusion-aware generator (paper, section 3.3).

The source image is encoded into a feature map, the feature map is warped by
the dense motion and multiplied by the occlusion map, and a decoder paints
the driving frame from it, inpainting what the occlusion map hides.

The work splits in two so that a video needs the source's share only once:
:meth:`OcclusionAwareGenerator.encode_source` (source alone) and
:meth:`OcclusionAwareGenerator.animate` (per driving frame).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry import GRID_SAMPLE_ALIGN_CORNERS, deform
from ..types import GeneratorOutput, Keypoints
from .blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, channels_at_depth
from .dense_motion import DenseMotionNetwork

__all__ = ["SourceEncoding", "OcclusionAwareGenerator"]


@dataclass
class SourceEncoding:
    """Everything the generator computes from the source image alone.

    ``image`` ``(B, C, H, W)``, ``features`` ``(B, F, H / 2^d, W / 2^d)`` after the
    down blocks, ``motion_image`` ``(B, C, h, w)`` the source at the dense motion
    network's resolution (``None`` without one).
    """

    image: torch.Tensor
    features: torch.Tensor
    motion_image: torch.Tensor | None


class OcclusionAwareGenerator(nn.Module):
    """Animate a source image by the motion between source and driving keypoints.

    ``forward(source_image, kp_source, kp_driving)`` returns a
    :class:`~fomm_nb.types.GeneratorOutput` (it indexes like the published
    dict) with ``prediction`` ``(B, C, H, W)`` in ``[0, 1]`` and, with a dense
    motion network, ``mask``, ``sparse_deformed``, ``occlusion_map`` (see
    :class:`DenseMotionNetwork`), ``deformation`` and ``deformed`` (the source
    warped by the dense motion, ``(B, C, H, W)``).

    Example:
        >>> gen = OcclusionAwareGenerator(num_channels=3, num_kp=3, block_expansion=4, max_features=16,
        ...     num_down_blocks=2, num_bottleneck_blocks=1, estimate_occlusion_map=True,
        ...     dense_motion_params=dict(block_expansion=4, max_features=16, num_blocks=2)).eval()
        >>> kp = {"value": torch.zeros(1, 3, 2)}
        >>> gen(torch.rand(1, 3, 32, 32), kp_source=kp, kp_driving=kp)["prediction"].shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(
        self,
        num_channels: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: dict | None = None,
        estimate_jacobian: bool = False,
    ) -> None:
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                **dense_motion_params,
            )
        else:
            self.dense_motion_network = None

        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock2d(channels_at_depth(block_expansion, i, max_features), channels_at_depth(block_expansion, i + 1, max_features))
            for i in range(num_down_blocks)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                channels_at_depth(block_expansion, num_down_blocks - i, max_features),
                channels_at_depth(block_expansion, num_down_blocks - i - 1, max_features),
            )
            for i in range(num_down_blocks)
        )
        bottleneck_channels = channels_at_depth(block_expansion, num_down_blocks, max_features)
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(bottleneck_channels))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=7, padding=3)
        self.num_channels = num_channels

    def encode_source(self, source_image: torch.Tensor) -> SourceEncoding:
        """Run the source-only part of the generator once: a :class:`SourceEncoding`."""
        features = self.first(source_image)
        for block in self.down_blocks:
            features = block(features)
        motion_image = None
        if self.dense_motion_network is not None:
            motion_image = self.dense_motion_network.downsample(source_image)
        return SourceEncoding(source_image, features, motion_image)

    def animate(self, encoding: SourceEncoding, kp_source: Keypoints, kp_driving: Keypoints) -> GeneratorOutput:
        """Paint the driving frames from a cached :class:`SourceEncoding`.

        A source of batch 1 serves a driving batch of any size ``B``.
        """
        batch = kp_driving["value"].shape[0]
        features = encoding.features.expand(batch, *encoding.features.shape[1:])
        if self.dense_motion_network is None:
            return GeneratorOutput(self.decode(features))
        motion = self.dense_motion_network.predict(encoding.motion_image, kp_source, kp_driving)
        features = deform(features, motion.deformation)
        occlusion_map = motion.occlusion_map
        if occlusion_map is not None:
            if occlusion_map.shape[2:] != features.shape[2:]:
                occlusion_map = F.interpolate(
                    occlusion_map, size=features.shape[2:], mode="bilinear", align_corners=GRID_SAMPLE_ALIGN_CORNERS
                )
            features = features * occlusion_map
        source = encoding.image.expand(batch, *encoding.image.shape[1:])
        return GeneratorOutput(
            prediction=self.decode(features),
            mask=motion.mask,
            sparse_deformed=motion.sparse_deformed,
            occlusion_map=motion.occlusion_map,
            deformation=motion.deformation,
            deformed=deform(source, motion.deformation),
        )

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Bottleneck, up blocks and the final convolution: image ``(B, C, H, W)`` in ``[0, 1]``."""
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))

    def forward(self, source_image: torch.Tensor, kp_source: Keypoints, kp_driving: Keypoints) -> GeneratorOutput:
        return self.animate(self.encode_source(source_image), kp_source, kp_driving)
