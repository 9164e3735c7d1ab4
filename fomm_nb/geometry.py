"""Coordinate grids, keypoint gaussians, warps and 2x2 Jacobian algebra.

The conventions here are the numerical contract with the published
checkpoints (pinned by ``tests/fixtures/official``):

* A coordinate grid spans ``[-1, 1]`` in ``(x, y)`` order, with -1 and 1 on the
  centres of the first and last pixels.
* Warping samples with :func:`torch.nn.functional.grid_sample`, bilinear, zero
  padding and ``align_corners=False`` (:data:`GRID_SAMPLE_ALIGN_CORNERS`). That
  is *not* the convention of the grid above — the published models were
  trained with this half-pixel mismatch, so reproducing them means keeping it.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: ``align_corners`` of every ``grid_sample`` and bilinear ``interpolate`` call.
GRID_SAMPLE_ALIGN_CORNERS = False

__all__ = [
    "GRID_SAMPLE_ALIGN_CORNERS",
    "make_coordinate_grid",
    "kp2gaussian",
    "warp",
    "resize_flow",
    "deform",
    "inverse_2x2",
    "spatial_softmax",
    "spatial_expectation",
]


def make_coordinate_grid(
    spatial_size: Sequence[int], dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return the ``(H, W, 2)`` grid of pixel-centre coordinates in ``[-1, 1]``.

    ``grid[i, j] = (x_j, y_i)`` with ``x_j = 2 j / (W - 1) - 1``.

    Example:
        >>> make_coordinate_grid((2, 3))[..., 0]
        tensor([[-1.,  0.,  1.],
                [-1.,  0.,  1.]])
    """
    height, width = spatial_size
    x = torch.arange(width, dtype=dtype, device=device)
    y = torch.arange(height, dtype=dtype, device=device)
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    xx = x.view(1, -1).expand(height, width)
    yy = y.view(-1, 1).expand(height, width)
    return torch.stack([xx, yy], dim=2)


def kp2gaussian(kp_value: torch.Tensor, spatial_size: Sequence[int], kp_variance: float) -> torch.Tensor:
    """Render one isotropic gaussian per keypoint.

    Args:
        kp_value: keypoints ``(B, K, 2)`` in ``[-1, 1]``, ``(x, y)`` order.
        spatial_size: ``(H, W)`` of the heatmaps.
        kp_variance: variance of the gaussians in grid units (0.01 published).

    Returns:
        ``(B, K, H, W)`` heatmaps, 1 at each keypoint.

    Example:
        >>> heat = kp2gaussian(torch.zeros(1, 1, 2), (5, 5), 0.01)
        >>> heat.shape, float(heat[0, 0, 2, 2])
        (torch.Size([1, 1, 5, 5]), 1.0)
    """
    grid = make_coordinate_grid(spatial_size, kp_value.dtype, kp_value.device)
    offset = grid.view(1, 1, *grid.shape) - kp_value[:, :, None, None, :]  # (B, K, H, W, 2)
    return torch.exp(-0.5 * (offset**2).sum(-1) / kp_variance)


def warp(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` ``(B, C, H, W)`` at ``grid`` ``(B, h, w, 2)`` (bilinear, zeros outside).

    Example:
        >>> image = torch.rand(1, 3, 4, 4)
        >>> warp(image, make_coordinate_grid((4, 4))[None]).shape
        torch.Size([1, 3, 4, 4])
    """
    return F.grid_sample(image, grid, align_corners=GRID_SAMPLE_ALIGN_CORNERS)


def resize_flow(flow: torch.Tensor, spatial_size: Sequence[int]) -> torch.Tensor:
    """Resize a sampling grid ``(B, h, w, 2)`` to ``(B, H, W, 2)`` bilinearly.

    The values are coordinates in ``[-1, 1]``, so they need no rescaling.

    Example:
        >>> resize_flow(torch.zeros(1, 4, 4, 2), (8, 8)).shape
        torch.Size([1, 8, 8, 2])
    """
    if tuple(flow.shape[1:3]) == tuple(spatial_size):
        return flow
    channels_first = flow.permute(0, 3, 1, 2)
    resized = F.interpolate(
        channels_first, size=spatial_size, mode="bilinear", align_corners=GRID_SAMPLE_ALIGN_CORNERS
    )
    return resized.permute(0, 2, 3, 1)


def deform(image: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` ``(B, C, H, W)`` by a dense motion ``(B, h, w, 2)`` of any resolution.

    The motion is resized to the image's size first (:func:`resize_flow`);
    the generator warps the source and its features this way.

    Example:
        >>> deform(torch.rand(1, 3, 8, 8), make_coordinate_grid((4, 4))[None]).shape
        torch.Size([1, 3, 8, 8])
    """
    return warp(image, resize_flow(deformation, image.shape[2:]))


def inverse_2x2(matrix: torch.Tensor) -> torch.Tensor:
    """Invert a batch of 2x2 matrices ``(..., 2, 2)`` in closed form.

    Example:
        >>> inverse_2x2(torch.tensor([[2.0, 1.0], [1.0, 1.0]]))
        tensor([[ 1., -1.],
                [-1.,  2.]])
    """
    a, b = matrix[..., 0, 0], matrix[..., 0, 1]
    c, d = matrix[..., 1, 0], matrix[..., 1, 1]
    determinant = a * d - b * c
    adjugate = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return adjugate / determinant[..., None, None]


def spatial_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``H(z) = exp(l(z) / t) / sum_z' exp(l(z') / t)`` over each map of ``logits`` ``(B, K, h, w)``.

    The keypoint detector's heatmaps (paper, section 3.2): each map sums to 1.

    Example:
        >>> spatial_softmax(torch.tensor([[[[0.0, 1.0]]]]), temperature=1.0).sum().item()
        1.0
    """
    batch, num_kp, height, width = logits.shape
    return F.softmax(logits.reshape(batch, num_kp, -1) / temperature, dim=2).view(batch, num_kp, height, width)


def spatial_expectation(heatmap: torch.Tensor) -> torch.Tensor:
    """``p = sum_z H(z) z`` for probability maps ``(B, K, h, w)``: keypoints ``(B, K, 2)`` in [-1, 1], ``(x, y)``.

    Example:
        >>> heat = torch.zeros(1, 1, 3, 3); heat[0, 0, 0, 2] = 1.0  # all mass on the top-right pixel
        >>> spatial_expectation(heat)
        tensor([[[ 1., -1.]]])
    """
    grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device)  # (h, w, 2)
    return torch.einsum("bkhw,hwc->bkc", heatmap, grid)
