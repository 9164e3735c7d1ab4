"""Motion transfer: the published modes, and the continuous controls the sliders use."""

import pytest
import torch

from fomm_nb import InputError, freeze_keypoints, movement_scale_ratio, normalize_kp
from fomm_nb.motion import MotionOptions, transfer_motion
from fomm_nb.types import Keypoints


def random_kp(batch=1, num_kp=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    jacobian = torch.eye(2) + 0.2 * torch.randn(batch, num_kp, 2, 2, generator=generator)
    return {"value": torch.rand(batch, num_kp, 2, generator=generator) * 2 - 1, "jacobian": jacobian}


@pytest.fixture
def kps():
    return random_kp(seed=1), random_kp(batch=3, seed=2), random_kp(seed=3)


def test_relative_movement_adds_the_driving_displacement_to_the_source(kps):
    source, driving, initial = kps
    out = normalize_kp(source, driving, initial)
    assert torch.allclose(out["value"], source["value"] + driving["value"] - initial["value"])
    expected_jacobian = driving["jacobian"] @ torch.inverse(initial["jacobian"]) @ source["jacobian"]
    assert torch.allclose(out["jacobian"], expected_jacobian, atol=1e-6)


def test_relative_jacobian_by_hand_with_matrices_that_do_not_commute():
    """J = J_D,t J_D,0^-1 J_S with a shear, a stretch and a quarter turn, worked out by hand."""
    source = {"value": torch.zeros(1, 1, 2), "jacobian": torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])}
    initial = {"value": torch.zeros(1, 1, 2), "jacobian": torch.tensor([[[[2.0, 0.0], [0.0, 1.0]]]])}
    driving = {"value": torch.zeros(1, 1, 2), "jacobian": torch.tensor([[[[0.0, -1.0], [1.0, 0.0]]]])}
    # J_D,t J_D,0^-1 = [[0, -1], [0.5, 0]]; times J_S = [[0, -1], [0.5, 0.5]].
    # Other orders give [[0, -0.5], [1, 1]] (J_D,0^-1 J_D,t J_S) or [[0.5, -1], [0.5, 0]] (J_S J_D,t J_D,0^-1).
    out = normalize_kp(source, driving, initial)
    assert torch.allclose(out["jacobian"], torch.tensor([[[[0.0, -1.0], [0.5, 0.5]]]]))


def test_initial_frame_maps_to_the_source_itself(kps):
    source, _, initial = kps
    out = normalize_kp(source, initial, initial)
    assert torch.allclose(out["value"], source["value"])
    assert torch.allclose(out["jacobian"], source["jacobian"], atol=1e-6)


def test_absolute_keeps_the_driving_keypoints(kps):
    source, driving, initial = kps
    out = normalize_kp(source, driving, initial, use_relative_movement=False, adapt_movement_scale=True)
    assert out["value"] is driving["value"] and out["jacobian"] is driving["jacobian"]


def test_relative_without_jacobian_transfer_keeps_driving_jacobians(kps):
    source, driving, initial = kps
    out = normalize_kp(source, driving, initial, use_relative_jacobian=False)
    assert out["jacobian"] is driving["jacobian"]


def test_adapted_scale_is_the_ratio_of_hull_square_roots():
    square = torch.tensor([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [0.0, 0.0]]])
    assert movement_scale_ratio({"value": square}, {"value": square * 0.25}) == pytest.approx(4.0)
    source, initial = {"value": square}, {"value": square * 0.5}
    driving = {"value": square * 0.5 + 0.1}
    out = normalize_kp(source, driving, initial, adapt_movement_scale=True, use_relative_jacobian=False)
    assert torch.allclose(out["value"], square + 0.2)


def test_degenerate_keypoints_do_not_crash_the_adapted_scale():
    line = torch.tensor([[[0.0, 0.0], [0.1, 0.1], [0.2, 0.2]]])
    assert movement_scale_ratio({"value": line}, {"value": line}) == 1.0


def test_blend_moves_continuously_from_absolute_to_relative(kps):
    source, driving, initial = kps
    absolute = normalize_kp(source, driving, initial, use_relative_movement=False)["value"]
    relative = normalize_kp(source, driving, initial)["value"]
    at = {r: transfer_motion(source, driving, initial, MotionOptions(relative=r)).value for r in (0.0, 0.5, 1.0)}
    assert torch.allclose(at[0.0], absolute) and torch.allclose(at[1.0], relative)
    assert torch.allclose(at[0.5], (absolute + relative) / 2, atol=1e-6)
    assert torch.allclose(normalize_kp(source, driving, initial, use_relative_movement=0.5)["value"], at[0.5])


def test_blend_with_adapted_scale_follows_the_documented_formula(kps):
    source, driving, initial = kps
    r, s = 0.25, 1.5
    a = movement_scale_ratio(source, initial)
    out = transfer_motion(source, driving, initial, MotionOptions(relative=r, adapt_movement_scale=True, movement_scale=s))
    anchor = (1 - r) * initial["value"] + r * source["value"]
    assert torch.allclose(out.value, anchor + s * ((1 - r) + r * a) * (driving["value"] - initial["value"]), atol=1e-6)
    relative_jacobian = driving["jacobian"] @ torch.inverse(initial["jacobian"]) @ source["jacobian"]
    assert torch.allclose(out.jacobian, (1 - r) * driving["jacobian"] + r * relative_jacobian, atol=1e-6)


def test_relative_blend_is_an_accepted_deprecated_name(kps):
    source, driving, initial = kps
    with pytest.deprecated_call():
        old = normalize_kp(source, driving, initial, relative_blend=0.5)["value"]
    assert torch.equal(old, transfer_motion(source, driving, initial, MotionOptions(relative=0.5)).value)


def test_booleans_mean_one_and_zero_and_the_result_is_typed(kps):
    assert MotionOptions(relative=True).relative == 1.0 and MotionOptions(relative=False).relative == 0.0
    source, driving, initial = kps
    out = transfer_motion(source, driving, initial, MotionOptions(relative=False))
    assert isinstance(out, Keypoints) and out.value is driving["value"]


def test_motion_options_keep_their_old_address():
    from fomm_nb.animate import MotionOptions as from_engine

    assert from_engine is MotionOptions


def test_frozen_option_holds_keypoints_in_the_transfer(kps):
    source, driving, initial = kps
    out = transfer_motion(source, driving, initial, MotionOptions(frozen=[True, False, False, False, False]))
    assert torch.allclose(out.value[:, 0], source["value"][:, 0].expand(3, 2))
    assert not torch.allclose(out.value[:, 1], source["value"][:, 1].expand(3, 2))


def test_movement_scale_multiplies_the_displacement(kps):
    source, driving, initial = kps
    out = normalize_kp(source, driving, initial, movement_scale=2.0)
    assert torch.allclose(out["value"], source["value"] + 2 * (driving["value"] - initial["value"]))
    still = normalize_kp(source, driving, initial, movement_scale=0.0)
    assert torch.allclose(still["value"], source["value"].expand(3, -1, -1))


def test_bad_controls_are_clear_errors(kps):
    source, driving, initial = kps
    with pytest.raises(InputError, match=r"relative must lie in \[0, 1\]"):
        normalize_kp(source, driving, initial, use_relative_movement=1.5)
    options = MotionOptions()
    options.relative = -0.5  # set after construction (a slider): checked when used
    with pytest.raises(InputError, match=r"relative must lie in \[0, 1\].*-0.5"):
        transfer_motion(source, driving, initial, options)
    with pytest.raises(InputError, match="source has 5 keypoints, driving has 4"):
        normalize_kp(source, random_kp(num_kp=4), initial)


def test_frozen_keypoints_stay_at_their_initial_place(kps):
    _, driving, initial = kps
    frozen = [True, False, False, True, False]
    held = freeze_keypoints(driving, initial, frozen)
    assert torch.equal(held["value"][:, 0], initial["value"][:, 0].expand(3, 2))
    assert torch.equal(held["value"][:, 1], driving["value"][:, 1])
    assert torch.equal(held["jacobian"][:, 3], initial["jacobian"][:, 3].expand(3, 2, 2))
    with pytest.raises(InputError, match="one flag per keypoint"):
        freeze_keypoints(driving, initial, [True])
