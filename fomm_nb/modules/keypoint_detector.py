"""Keypoint detector (paper, section 3.2 and appendix).

An hourglass network predicts one heatmap per keypoint. A softmax turns each
heatmap into a probability map ``H_k``; the keypoint is its expectation
``p_k = sum_z H_k(z) z`` over the coordinate grid, and the Jacobian ``J_k`` —
the local affine map around ``p_k`` — is the ``H_k``-weighted mean of four
predicted channels.
"""

import torch
from torch import nn

from ..geometry import spatial_expectation, spatial_softmax
from ..types import Keypoints
from .blocks import AntiAliasInterpolation2d, Hourglass

__all__ = ["KPDetector"]

_IDENTITY_JACOBIAN = (1.0, 0.0, 0.0, 1.0)


class KPDetector(nn.Module):
    """Detect ``num_kp`` keypoints (and their Jacobians) in an image.

    Returns :class:`~fomm_nb.types.Keypoints` (they index like the published
    dict): ``value`` ``(B, K, 2)`` in ``[-1, 1]``, ``(x, y)`` order, and, when
    ``estimate_jacobian``, ``jacobian`` ``(B, K, 2, 2)``. With
    ``return_heatmap=True`` it also returns ``heatmap`` ``(B, K, h, w)``, the
    softmax probability maps.

    Example:
        >>> detector = KPDetector(block_expansion=4, num_kp=5, num_channels=3, max_features=16,
        ...                       num_blocks=2, temperature=0.1, estimate_jacobian=True).eval()
        >>> kp = detector(torch.rand(1, 3, 32, 32))
        >>> kp["value"].shape, kp["jacobian"].shape
        (torch.Size([1, 5, 2]), torch.Size([1, 5, 2, 2]))
    """

    def __init__(
        self,
        block_expansion: int,
        num_kp: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ) -> None:
        super().__init__()
        self.predictor = Hourglass(block_expansion, num_channels, num_blocks, max_features)
        features = self.predictor.out_filters
        self.kp = nn.Conv2d(features, num_kp, kernel_size=7, padding=pad)
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
        if estimate_jacobian:
            self.jacobian = nn.Conv2d(features, 4 * self.num_jacobian_maps, kernel_size=7, padding=pad)
            # Start from identity Jacobians: zero weights, bias (1, 0, 0, 1).
            nn.init.zeros_(self.jacobian.weight)
            with torch.no_grad():
                self.jacobian.bias.copy_(torch.tensor(_IDENTITY_JACOBIAN * self.num_jacobian_maps))
        else:
            self.jacobian = None
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """The heatmap logits before the softmax: ``(B, K, h, w)`` for ``image`` ``(B, C, H, W)``."""
        if self.scale_factor != 1:
            image = self.down(image)
        return self.kp(self.predictor(image))

    def forward(self, image: torch.Tensor, return_heatmap: bool = False) -> Keypoints:
        if self.scale_factor != 1:
            image = self.down(image)
        features = self.predictor(image)
        heatmap = spatial_softmax(self.kp(features), self.temperature)  # (B, K, h, w)
        kp = Keypoints(spatial_expectation(heatmap), heatmap=heatmap if return_heatmap else None)
        if self.jacobian is not None:
            batch, num_kp, height, width = heatmap.shape
            jacobian_maps = self.jacobian(features).view(batch, self.num_jacobian_maps, 4, height, width)
            jacobian = (heatmap.unsqueeze(2) * jacobian_maps).sum(dim=(3, 4))  # (B, K, 4)
            kp.jacobian = jacobian.view(batch, num_kp, 2, 2)
        return kp
