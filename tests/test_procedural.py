"""The procedural faces: deterministic, anti-aliased, with landmarks that follow the pose."""

import numpy as np
import pytest

from fomm_nb.data import Identity, Pose, ProceduralFaces, landmarks, make_video, render, split_seed, video_parameters
from fomm_nb.errors import InputError


@pytest.fixture
def identity():
    return Identity.random(np.random.default_rng(4))


def test_render_shape_range_and_determinism():
    first, second = make_video(5, num_frames=3, size=64), make_video(5, num_frames=3, size=64)
    assert first.frames.shape == (3, 64, 64, 3) and first.frames.dtype == np.float32
    assert 0.0 <= first.frames.min() and first.frames.max() <= 1.0
    assert np.array_equal(first.frames, second.frames) and np.array_equal(first.landmarks, second.landmarks)
    assert not np.array_equal(first.frames, make_video(6, num_frames=3, size=64).frames)


def test_edges_are_anti_aliased(identity):
    """A 64-pixel render matches a 4x supersampled one box-filtered down: edges are soft, not jagged."""
    pose = Pose(angle=0.3, yaw=0.2)
    small = render(identity, pose, size=64)
    large = render(identity, pose, size=256).reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    assert np.abs(small - large).mean() < 0.02
    assert len(np.unique(np.round(small, 3).reshape(-1, 3), axis=0)) > 500


def test_landmarks_follow_translation_and_rotation(identity):
    base = landmarks(identity, Pose(), size=65)
    moved = landmarks(identity, Pose(tx=0.5), size=65)
    assert np.allclose(moved - base, [16.0, 0.0])  # half a frame of [-1, 1] on 65 pixels = 16 px
    turned = landmarks(identity, Pose(angle=np.pi / 2), size=65)
    centre = np.array([32.0, 32.0])
    rotated = (base - centre) @ np.array([[0, 1], [-1, 0]]) + centre  # +90 degrees, y pointing down
    assert np.allclose(turned, rotated, atol=1e-6)


def test_pose_parameters_change_the_face(identity):
    names = ["left_cheek", "right_cheek", "upper_lip", "lower_lip"]
    from fomm_nb.data import LANDMARK_NAMES

    index = {name: LANDMARK_NAMES.index(name) for name in names}
    width = lambda pose: np.ptp(landmarks(identity, pose)[[index["left_cheek"], index["right_cheek"]], 0])
    lips = lambda pose: np.ptp(landmarks(identity, pose)[[index["upper_lip"], index["lower_lip"]], 1])
    assert width(Pose(yaw=0.8)) < width(Pose())
    assert lips(Pose(mouth=1.0)) > lips(Pose(mouth=0.0)) + 2
    eye = landmarks(identity, Pose())[0].round().astype(int)
    open_eye = render(identity, Pose())[eye[1], eye[0]]
    closed_eye = render(identity, Pose(blink=1.0))[eye[1], eye[0]]
    assert np.abs(open_eye - closed_eye).sum() > 0.2


def test_any_identity_in_any_pose(identity):
    other = Identity.random(np.random.default_rng(9))
    pose = Pose(tx=0.1, yaw=0.3, mouth=0.5)
    assert np.abs(render(identity, pose) - render(other, pose)).mean() > 0.05
    video = make_video(2, num_frames=4)
    ground_truth = video.render_as(other)
    assert ground_truth.shape == video.frames.shape
    assert np.array_equal(ground_truth[1], render(other, video.poses[1]))


def test_dataset_items_and_splits():
    dataset = ProceduralFaces("train", num_videos=5, frames_per_video=16, size=32)
    item = dataset[3]
    assert item["source"].shape == (3, 32, 32) and item["driving_landmarks"].shape == (13, 2)
    assert split_seed("test", 0) != split_seed("train", 0)
    assert video_parameters(split_seed("test", 0))[0] != video_parameters(split_seed("train", 0))[0]
    with pytest.raises(InputError, match="split must be"):
        split_seed("valid", 0)
