"""Random affine + thin-plate-spline warps for the equivariance losses (paper, section 3.4).

A :class:`RandomTPS` maps coordinates ``z -> A z + b + sum_i w_i U(|z - c_i|_1)``
with ``U(r) = r^2 log r`` over a grid of control points ``c_i``; its parameters
are drawn per batch item. The keypoints of a warped image, mapped back, must
equal the keypoints of the image (value equivariance), and so must the
Jacobians, composed with the warp's own Jacobian.

Example:
    >>> tps = RandomTPS(batch_size=2, sigma_affine=0.05, sigma_tps=0.005, points_tps=5)
    >>> tps.warp_coordinates(torch.zeros(2, 10, 2)).shape
    torch.Size([2, 10, 2])
"""

import torch
import torch.nn.functional as F

from ..geometry import make_coordinate_grid

__all__ = ["RandomTPS"]


class RandomTPS:
    """One random affine + TPS warp per batch item."""

    def __init__(
        self,
        batch_size: int,
        sigma_affine: float = 0.05,
        sigma_tps: float = 0.005,
        points_tps: int = 5,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        noise = torch.randn(batch_size, 2, 3, device=device, generator=generator) * sigma_affine
        self.theta = noise + torch.eye(2, 3, device=device)  # (B, 2, 3)
        self.control_points = make_coordinate_grid((points_tps, points_tps), device=device).view(-1, 2)  # (P, 2)
        self.control_params = torch.randn(batch_size, points_tps**2, device=device, generator=generator) * sigma_tps

    def warp_coordinates(self, points: torch.Tensor) -> torch.Tensor:
        """Map ``points`` ``(B, N, 2)`` in [-1, 1] through the warp."""
        linear, offset = self.theta[:, None, :, :2], self.theta[:, None, :, 2]
        warped = (linear @ points.unsqueeze(-1)).squeeze(-1) + offset
        distances = (points.unsqueeze(2) - self.control_points.view(1, 1, -1, 2)).abs().sum(-1)  # (B, N, P)
        radial = distances**2 * torch.log(distances + 1e-6)
        return warped + (radial * self.control_params[:, None, :]).sum(-1, keepdim=True)

    def warp_image(self, image: torch.Tensor) -> torch.Tensor:
        """Resample ``image`` ``(B, C, H, W)``: output pixel z shows input at ``warp(z)`` (reflection padding).

        Sampled with ``align_corners=True``, the convention of the coordinate
        grid, so that the warp moves keypoints exactly as
        :meth:`warp_coordinates` says (the generator's published half-pixel
        convention would bias the equivariance losses by a 1/W zoom).
        """
        batch, _, height, width = image.shape
        grid = make_coordinate_grid((height, width), image.dtype, image.device).view(1, -1, 2).expand(batch, -1, -1)
        grid = self.warp_coordinates(grid).view(batch, height, width, 2)
        return F.grid_sample(image, grid, padding_mode="reflection", align_corners=True)

    def jacobian(self, points: torch.Tensor) -> torch.Tensor:
        """The warp's Jacobian at ``points`` ``(B, N, 2)``: ``(B, N, 2, 2)``, by autograd."""
        with torch.enable_grad():
            points = points.detach().requires_grad_(True)
            warped = self.warp_coordinates(points)
            rows = [torch.autograd.grad(warped[..., i].sum(), points, create_graph=True)[0] for i in range(2)]
        return torch.stack(rows, dim=-2)
