"""Coordinate grids, gaussians, warps and 2x2 inverses: conventions, hand-worked values, gradients."""

import pytest
import torch

from fomm_nb.geometry import GRID_SAMPLE_ALIGN_CORNERS, inverse_2x2, kp2gaussian, make_coordinate_grid, resize_flow, warp
from fomm_nb.modules.dense_motion import sparse_motions


def test_grid_puts_minus_one_and_one_on_the_outer_pixel_centres():
    grid = make_coordinate_grid((3, 5))
    assert grid.shape == (3, 5, 2)
    assert grid[0, 0].tolist() == [-1.0, -1.0]
    assert grid[2, 4].tolist() == [1.0, 1.0]
    assert grid[1, 2].tolist() == [0.0, 0.0]
    assert grid[0, :, 0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]  # x runs along the width


def test_grid_sample_keeps_the_published_half_pixel_convention():
    """align_corners=False with a corner-aligned grid: the identity grid is *not* an exact identity warp."""
    assert GRID_SAMPLE_ALIGN_CORNERS is False
    image = torch.arange(16.0).view(1, 1, 4, 4)
    warped = warp(image, make_coordinate_grid((4, 4))[None])
    # Grid point j of a width-4 image samples pixel position j * 4/3 - 0.5: row and column 5/6 for j = 1,
    # where the linear image 4 r + c is worth 5 * 5/6.
    assert warped[0, 0, 1, 1].item() == pytest.approx(25 / 6, abs=1e-5)
    assert not torch.allclose(warped, image)
    # The centre of the image is the fixed point of the mismatch.
    assert warp(image, torch.zeros(1, 1, 1, 2))[0, 0, 0, 0] == pytest.approx(image.mean().item())


def test_gaussian_peaks_at_the_keypoint_and_falls_with_the_variance():
    kp = torch.tensor([[[0.5, -0.5]]])
    heat = kp2gaussian(kp, (5, 5), kp_variance=0.01)
    assert heat.shape == (1, 1, 5, 5)
    assert heat[0, 0, 1, 3] == pytest.approx(1.0)  # x = 0.5 -> column 3, y = -0.5 -> row 1
    one_step = torch.exp(torch.tensor(-0.5 * 0.25 / 0.01)).item()
    assert heat[0, 0, 1, 2] == pytest.approx(one_step, rel=1e-5)


def test_inverse_2x2_agrees_with_torch_and_has_gradients():
    matrices = torch.randn(4, 3, 2, 2, dtype=torch.float64) + 2 * torch.eye(2, dtype=torch.float64)
    assert torch.allclose(inverse_2x2(matrices), torch.inverse(matrices))
    assert torch.autograd.gradcheck(inverse_2x2, (matrices.requires_grad_(),))


def test_warp_is_differentiable_in_image_and_grid():
    image = torch.rand(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    grid = (0.5 * torch.rand(1, 3, 3, 2, dtype=torch.float64) - 0.25).requires_grad_()
    assert torch.autograd.gradcheck(warp, (image, grid))


def test_resize_flow_keeps_a_constant_flow_constant():
    flow = torch.full((1, 4, 4, 2), 0.3)
    assert torch.allclose(resize_flow(flow, (16, 16)), torch.full((1, 16, 16, 2), 0.3))
    assert resize_flow(flow, (4, 4)) is flow


def test_sparse_motion_is_the_first_order_expansion():
    """T_k(z) = p_S + J_S J_D^-1 (z - p_D), checked at one grid point by hand.

    The shears J_S = [[1, 2], [0, 1]] and J_D = [[1, 0], [1, 1]] do not commute:
    J_S J_D^-1 = [[-1, 2], [-1, 1]], while J_D^-1 J_S = [[1, 2], [-1, -1]].
    """
    kp_source = {"value": torch.tensor([[[0.1, 0.2]]]), "jacobian": torch.tensor([[[[1.0, 2.0], [0.0, 1.0]]]])}
    kp_driving = {"value": torch.tensor([[[-0.1, 0.0]]]), "jacobian": torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])}
    motions = sparse_motions((3, 3), kp_source, kp_driving)
    assert motions.shape == (1, 2, 3, 3, 2)
    assert torch.allclose(motions[0, 0], make_coordinate_grid((3, 3)))  # background: identity
    # z = grid[0, 2] = (1, -1); z - p_D = (1.1, -1); [[-1, 2], [-1, 1]] (1.1, -1) = (-3.1, -2.1); plus p_S:
    assert torch.allclose(motions[0, 1, 0, 2], torch.tensor([-3.0, -1.9]))
    # (the swapped order J_D^-1 J_S would give (-0.8, 0.1))


def test_zero_order_motion_is_a_translation():
    kp_source = {"value": torch.tensor([[[0.2, 0.0]]])}
    kp_driving = {"value": torch.tensor([[[0.0, 0.0]]])}
    motions = sparse_motions((3, 3), kp_source, kp_driving)
    assert torch.allclose(motions[0, 1] - make_coordinate_grid((3, 3)), torch.tensor([0.2, 0.0]).expand(3, 3, 2))
