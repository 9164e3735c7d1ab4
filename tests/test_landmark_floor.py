"""The Cramér-Rao floor of landmark reading (fomm_nb.landmarks.floor): derivatives of real renders, and a floor
that no detector we have beats."""

import numpy as np
import pytest
import torch

from fomm_nb.data.procedural import LANDMARK_NAMES, split_seed, video_parameters, with_pose
from fomm_nb.landmarks import degrade, load_landmark_detector, read_landmarks
from fomm_nb.landmarks.floor import (blurred, face_parameters, parameter_spread, reading_floor, render_jacobians,
                                     with_face_parameters)
from fomm_nb.data.cartoon import landmarks
from fomm_nb.data.painter import render


def faces(count):
    """``count`` held-out faces (identity, pose): the first and middle frame of test videos."""
    picked = []
    for index in range(count):
        identity, poses = video_parameters(split_seed("test", index), 32)
        picked.append((identity, poses[16 * (index % 2)]))
    return picked


def test_every_number_of_a_face_is_a_parameter_and_goes_back_where_it_came_from():
    identity, pose = faces(1)[0]
    names, values = face_parameters(identity, pose)
    assert len(names) == len(values) == len(set(names))
    assert names[-9:] == [f"pose.{name}" for name in ("tx", "ty", "angle", "scale", "yaw", "mouth", "blink", "gaze_x",
                                                      "gaze_y")]
    moved = values + 0.01 * np.arange(len(values))
    rebuilt = with_face_parameters(identity, pose, moved)
    assert np.array_equal(face_parameters(*rebuilt)[1], moved)
    assert with_face_parameters(identity, pose, values) == (identity, pose)


@pytest.mark.parametrize("name, change", [("tx", 1 / 31.5), ("angle", 0.02), ("mouth", 0.05)])
def test_each_column_is_the_change_of_the_render_its_number_makes(name, change):
    """A column of the image jacobian must match a central difference of renders made by changing that one pose
    number by a pixel's worth, once both are blurred by 1.5 px (at the scale of the anti-aliased edge, an
    infinitesimal step and a one-pixel one differ); a number mapped to the wrong column, or a step not divided
    out, breaks it."""
    identity, pose = faces(1)[0]
    image_jacobian, landmark_jacobian = render_jacobians(identity, pose)
    column = face_parameters(identity, pose)[0].index(f"pose.{name}")
    after, before = (render(identity, with_pose(pose, **{name: getattr(pose, name) + sign * change}))
                     for sign in (1, -1))
    difference = ((after - before) / (2 * change)).reshape(-1, 1)
    found, expected = blurred(image_jacobian[:, [column]], 1.5)[:, 0], blurred(difference, 1.5)[:, 0]
    assert np.corrcoef(found, expected)[0, 1] > 0.95
    assert np.linalg.norm(found) == pytest.approx(np.linalg.norm(expected), rel=0.15)


def test_the_landmark_jacobian_moves_the_right_landmarks():
    identity, pose = faces(1)[0]
    pose = with_pose(pose, yaw=0.0)  # a turned head's features depend on its width
    size = 64
    _, landmark_jacobian = render_jacobians(identity, pose, size)
    names = face_parameters(identity, pose)[0]
    tx = names.index("pose.tx")
    assert np.allclose(landmark_jacobian[0::2, tx], (size - 1) / 2, atol=0.01)  # tx 1: half a frame right
    assert np.allclose(landmark_jacobian[1::2, tx], 0.0, atol=0.01)
    head = names.index("head_width")  # a wider head moves the face edges apart, and not the nose
    nose, left_edge, right_edge = (LANDMARK_NAMES.index(n) for n in ("nose_tip", "left_face_edge", "right_face_edge"))
    assert abs(landmark_jacobian[2 * nose, head]) < 1e-6
    assert landmark_jacobian[2 * right_edge, head] > 0 > landmark_jacobian[2 * left_edge, head]


def test_the_floor_grows_with_noise_and_blur_and_a_prior_lowers_it():
    identity, pose = faces(1)[0]
    image_jacobian, landmark_jacobian = render_jacobians(identity, pose)
    names = face_parameters(identity, pose)[0]
    spread = parameter_spread(num_videos=50)
    prior = np.array([spread[name] for name in names])
    sharp = reading_floor(image_jacobian, landmark_jacobian, 0.03)
    assert np.allclose(reading_floor(image_jacobian, landmark_jacobian, 0.06), 2 * sharp)
    soft = reading_floor(blurred(image_jacobian, 1.0), landmark_jacobian, 0.03)
    assert soft.mean() > 2 * sharp.mean()
    with_prior = reading_floor(blurred(image_jacobian, 1.0), landmark_jacobian, 0.03, prior)
    assert np.all(with_prior <= soft + 1e-9) and with_prior.mean() > 0.5 * soft.mean()


def test_the_shipped_detector_reads_no_better_than_the_floor_allows():
    """A floor that no reader may beat: the detector's error on frames blurred by 1 px and noised by 0.03 must be
    above it (a floor computed too high, e.g. without dividing by the noise, fails here)."""
    detector = load_landmark_detector()
    picked = faces(6)
    spread = parameter_spread(num_videos=50)
    floors, errors = [], []
    for identity, pose in picked:
        image_jacobian, landmark_jacobian = render_jacobians(identity, pose)
        prior = np.array([spread[name] for name in face_parameters(identity, pose)[0]])
        floors.append(reading_floor(blurred(image_jacobian, 1.0), landmark_jacobian, 0.03, prior))
        frame = torch.from_numpy(render(identity, pose, 64)).permute(2, 0, 1)[None].repeat(8, 1, 1, 1)
        noisy = degrade(frame, torch.full((8,), 1.0), torch.full((8,), 0.03), torch.Generator().manual_seed(0))
        found = read_landmarks(detector, noisy.permute(0, 2, 3, 1).numpy())
        errors.append(np.linalg.norm(found - landmarks(identity, pose, 64), axis=-1))  # (8, L)
    floor_rms = np.sqrt((np.stack(floors) ** 2).mean())
    error_rms = np.sqrt((np.stack(errors) ** 2).mean())
    assert 0.02 < floor_rms < error_rms
