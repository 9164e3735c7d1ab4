"""Dense motion network (paper, section 3.2: "local affine transformations").

Each keypoint ``k`` defines a sparse motion, the first-order Taylor expansion
of the backward map from driving to source around the keypoint:

    T_k(z) = p_S,k + J_S,k J_D,k^-1 (z - p_D,k)

plus one background motion, the identity. An hourglass sees the keypoint
gaussians' difference and the source warped by each motion, and predicts
soft masks that blend the K + 1 motions into one dense motion field, and an
occlusion map that tells the generator where the warped source cannot be
trusted.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..geometry import inverse_2x2, kp2gaussian, make_coordinate_grid, warp
from ..types import DenseMotion, Keypoints
from .blocks import AntiAliasInterpolation2d, Hourglass

__all__ = ["sparse_motions", "deform_by_each_motion", "DenseMotionNetwork"]


def sparse_motions(spatial_size: tuple[int, int], kp_source: Keypoints, kp_driving: Keypoints) -> torch.Tensor:
    """The K + 1 sampling grids: identity (background) then one per keypoint.

    Args:
        spatial_size: ``(h, w)``.
        kp_source, kp_driving: :class:`~fomm_nb.types.Keypoints` (or dicts) with
            ``value`` ``(B, K, 2)`` and optionally ``jacobian`` ``(B, K, 2, 2)``
            (zero-order motion without it).

    Returns:
        ``(B, K + 1, h, w, 2)`` grids of source coordinates.

    Example:
        >>> kp = {"value": torch.zeros(1, 2, 2)}
        >>> sparse_motions((4, 4), kp, kp).shape
        torch.Size([1, 3, 4, 4, 2])
    """
    driving_value = kp_driving["value"]
    batch, num_kp, _ = driving_value.shape
    identity = make_coordinate_grid(spatial_size, driving_value.dtype, driving_value.device)
    offset = identity[None, None] - driving_value[:, :, None, None, :]  # (B, K, h, w, 2)
    if "jacobian" in kp_driving:
        # Coordinates stay float32 under autocast: in bfloat16 they would be off by up to half a pixel.
        with torch.autocast(driving_value.device.type, enabled=False):
            jacobian = kp_source["jacobian"] @ inverse_2x2(kp_driving["jacobian"])  # (B, K, 2, 2)
            offset = torch.einsum("bkij,bkhwj->bkhwi", jacobian, offset)
    driving_to_source = offset + kp_source["value"][:, :, None, None, :]
    background = identity.expand(batch, 1, *identity.shape)
    return torch.cat([background, driving_to_source], dim=1)


def deform_by_each_motion(image: torch.Tensor, motions: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` ``(B, C, h, w)`` by each of ``motions`` ``(B, M, h, w, 2)`` -> ``(B, M, C, h, w)``.

    A source of batch 1 is shared by every item of a larger driving batch.

    Example:
        >>> grids = sparse_motions((8, 8), {"value": torch.zeros(2, 3, 2)}, {"value": torch.zeros(2, 3, 2)})
        >>> deform_by_each_motion(torch.rand(1, 3, 8, 8), grids).shape
        torch.Size([2, 4, 3, 8, 8])
    """
    batch, num_motions, height, width, _ = motions.shape
    channels = image.shape[1]
    repeated = image.unsqueeze(1).expand(batch, num_motions, channels, height, width)
    deformed = warp(
        repeated.reshape(batch * num_motions, channels, height, width),
        motions.reshape(batch * num_motions, height, width, 2),
    )
    return deformed.view(batch, num_motions, channels, height, width)


class DenseMotionNetwork(nn.Module):
    """Predict the dense motion from source to driving frame, and an occlusion map.

    ``forward(source_image, kp_source, kp_driving)`` returns a
    :class:`~fomm_nb.types.DenseMotion` (it indexes like the published dict):
    ``sparse_deformed`` ``(B, K+1, C, h, w)``, ``mask`` ``(B, K+1, h, w)``
    (softmax over motions), ``deformation`` ``(B, h, w, 2)`` (source coordinates
    for each driving pixel) and, when estimated, ``occlusion_map``
    ``(B, 1, h, w)`` in ``[0, 1]``; ``h, w`` are the image size times
    ``scale_factor``.

    Example:
        >>> net = DenseMotionNetwork(block_expansion=4, num_blocks=2, max_features=16, num_kp=3,
        ...                          num_channels=3, estimate_occlusion_map=True).eval()
        >>> kp = {"value": torch.zeros(1, 3, 2)}
        >>> net(torch.rand(1, 3, 16, 16), kp, kp)["deformation"].shape
        torch.Size([1, 16, 16, 2])
    """

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        num_channels: int,
        estimate_occlusion_map: bool = False,
        scale_factor: float = 1,
        kp_variance: float = 0.01,
    ) -> None:
        super().__init__()
        in_features = (num_kp + 1) * (num_channels + 1)
        self.hourglass = Hourglass(block_expansion, in_features, num_blocks, max_features)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3)
        else:
            self.occlusion = None
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downsample(self, source_image: torch.Tensor) -> torch.Tensor:
        """The source at the resolution the motion is predicted at ``(B, C, h, w)``."""
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def forward(self, source_image: torch.Tensor, kp_source: Keypoints, kp_driving: Keypoints) -> DenseMotion:
        return self.predict(self.downsample(source_image), kp_source, kp_driving)

    def heatmap_difference(self, spatial_size: tuple[int, int], kp_source: Keypoints, kp_driving: Keypoints) -> torch.Tensor:
        """Gaussians of driving minus source keypoints, background first: ``(B, K+1, h, w)``."""
        difference = kp2gaussian(kp_driving["value"], spatial_size, self.kp_variance) - kp2gaussian(
            kp_source["value"], spatial_size, self.kp_variance
        )
        return F.pad(difference, (0, 0, 0, 0, 1, 0))

    def predict(self, small_source: torch.Tensor, kp_source: Keypoints, kp_driving: Keypoints) -> DenseMotion:
        """Like ``forward``, with the source already at the motion resolution."""
        spatial_size = tuple(small_source.shape[2:])
        batch = kp_driving["value"].shape[0]
        heatmaps = self.heatmap_difference(spatial_size, kp_source, kp_driving)
        motions = sparse_motions(spatial_size, kp_source, kp_driving)  # (B, K+1, h, w, 2)
        sparse_deformed = deform_by_each_motion(small_source, motions)  # (B, K+1, C, h, w)

        net_input = torch.cat([heatmaps.unsqueeze(2), sparse_deformed], dim=2)
        features = self.hourglass(net_input.view(batch, -1, *spatial_size))

        mask = F.softmax(self.mask(features).float(), dim=1)  # (B, K+1, h, w), float32: it weighs coordinates
        deformation = (mask.unsqueeze(-1) * motions).sum(dim=1)  # (B, h, w, 2)
        occlusion_map = torch.sigmoid(self.occlusion(features)) if self.occlusion is not None else None
        return DenseMotion(deformation, mask, sparse_deformed, occlusion_map)
