"""Best frame: pose distance by hand, the source found in a clip, animation from the best frame."""

import sys
import types
from itertools import islice

import cv2
import numpy as np
import pytest
import skimage.data
import torch

import fomm_nb
from fomm_nb import face
from fomm_nb.animate import AnimationEngine
from fomm_nb.best_frame import (
    animate_from_best_frame,
    closest_pose,
    find_best_frame,
    normalize_pose,
    pose_distance,
)
from fomm_nb.errors import InputError
from fomm_nb.face import FaceNotFoundError
from conftest import OFFICIAL, load_golden

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def rotate(points, degrees):
    angle = np.radians(degrees)
    return points @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])


@pytest.fixture(scope="module")
def model():
    return fomm_nb.load_model(OFFICIAL / "tiny-mgif.yaml", OFFICIAL / "tiny-mgif.pth.tar", device="cpu")


@pytest.fixture(scope="module")
def clip():
    """The golden source and a 7-frame clip (128x128) with that source at index 4."""
    golden = load_golden("tiny-mgif")
    source = golden["source"][0].permute(1, 2, 0).numpy()
    driving = list(golden["driving"].permute(0, 2, 3, 1).numpy())
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    others = [cv2.resize(p, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 255 for p in photos]
    frames = driving + others
    frames.insert(4, source.copy())
    return source, np.stack(frames)


def test_normalized_pose_has_zero_mean_and_unit_hull_area():
    points = np.random.default_rng(0).normal(size=(10, 2))
    pose = normalize_pose(points)
    assert np.allclose(pose.mean(0), 0)
    from scipy.spatial import ConvexHull

    assert np.isclose(ConvexHull(pose).volume, 1.0)


def test_distance_ignores_position_and_size_but_not_rotation():
    points = np.random.default_rng(1).normal(size=(10, 2))
    assert pose_distance(points, 0.3 * points + [5, -2]) < 1e-20
    assert pose_distance(points, rotate(points, 30)) > 0.1
    # by hand: a unit square against itself with one corner moved by 1/2 (hull area 1 -> 1.25, a trapezoid)
    moved = SQUARE.copy()
    moved[3] = [1.5, 1.0]
    expected = ((normalize_pose(SQUARE) - (moved - moved.mean(0)) / np.sqrt(1.25)) ** 2).sum()
    assert np.isclose(pose_distance(SQUARE, moved), expected)


def test_the_source_pose_is_found_among_synthetic_poses():
    source = np.random.default_rng(2).uniform(-1, 1, size=(10, 2))
    poses = [rotate(source, degrees) * 0.8 + 0.1 for degrees in (40, 25, 10)]
    poses += [source * 0.5 - 0.2, rotate(source, -5), rotate(source, -20)]
    assert closest_pose(source, poses) == 3
    assert closest_pose(source, iter(poses[:3])) == 2, "the least rotated of the first three"
    assert closest_pose(source, [source, source.copy()]) == 0, "the first of equal distances"


@pytest.mark.parametrize(
    "degenerate",
    [
        np.zeros((10, 2)),  # every keypoint in one place
        np.stack([np.linspace(-1, 1, 10), np.linspace(-0.5, 0.5, 10)], 1),  # on one line
        np.array([[0.2, 0.3]]),  # one keypoint
        np.array([[0.2, 0.3], [0.4, -0.1]]),  # two
        np.full((10, 2), np.nan),  # a broken detector
    ],
)
def test_degenerate_keypoints_do_not_crash(degenerate):
    pose = normalize_pose(degenerate)
    assert pose.shape == degenerate.shape
    assert np.isfinite(pose).all() or np.isnan(degenerate).any()
    good = np.random.default_rng(3).normal(size=degenerate.shape)
    assert closest_pose(degenerate, [good, degenerate]) in (0, 1)
    if len(degenerate) > 1:  # single keypoints all normalise to the origin: every pose ties
        assert closest_pose(good, [degenerate, good]) == 1


def test_collinear_keypoints_are_scaled_by_their_spread():
    line = np.stack([np.linspace(-1, 1, 5), np.zeros(5)], 1)
    assert np.isclose(np.sqrt((normalize_pose(line) ** 2).sum(1).mean()), 1.0)
    assert pose_distance(line, 4 * line + 1) < 1e-20


def test_nan_poses_never_win_and_all_bad_gives_zero():
    nan = np.full((4, 2), np.nan)
    assert closest_pose(SQUARE, [nan, None, SQUARE * 2, nan]) == 2
    assert closest_pose(SQUARE, [None, nan]) == 0
    with pytest.raises(InputError, match="empty"):
        closest_pose(SQUARE, [])


def test_the_source_is_found_in_a_clip_by_the_models_keypoints(model, clip):
    source, frames = clip
    assert find_best_frame(model, source, frames) == 4
    assert find_best_frame(model, source, iter(list(frames))) == 4, "any iterable, read once"
    engine = AnimationEngine(model, batch_size=3)
    engine.set_source(frames[0])
    kp_before = engine.kp_source["value"].clone()
    assert find_best_frame(engine, source, frames) == 4
    assert engine.kp_driving_initial is None and torch.equal(engine.kp_source["value"], kp_before)


def test_animating_from_the_best_frame_equals_two_passes_from_it(model, clip):
    source, frames = clip
    frames, index = frames[3:7], 1  # the source is frames[4]: a short clip keeps the test fast
    engine = AnimationEngine(model, batch_size=2)
    engine.set_source(source)
    result = np.stack(list(animate_from_best_frame(engine, frames, index)))
    # the published demo: backwards from the best frame to the start, reversed, then forwards after it
    backward = fomm_nb.animate(model, source, frames[: index + 1][::-1])[::-1]
    forward = fomm_nb.animate(model, source, frames[index:])
    published = np.concatenate([backward, forward[1:]])
    assert result.shape == published.shape == frames.shape
    assert np.abs(result - published).max() <= 1e-5
    from_first = fomm_nb.animate(model, source, frames[:1])
    assert np.abs(result[0] - from_first[0]).max() > 1e-3, "the initial frame must matter"
    # an iterable is buffered up to the best frame and gives the same frames
    engine.set_source(source)
    streamed = list(islice(animate_from_best_frame(engine, iter(list(frames)), index), 2))
    assert np.abs(np.stack(streamed) - result[:2]).max() <= 1e-6


@pytest.mark.parametrize("make", [list, iter])
def test_a_best_frame_outside_the_clip_is_refused(model, clip, make):
    source, frames = clip
    engine = AnimationEngine(model)
    engine.set_source(source)
    with pytest.raises(InputError, match="past the end"):
        animate_from_best_frame(engine, make(list(frames)), len(frames))
    with pytest.raises(InputError, match="0 or more"):
        animate_from_best_frame(engine, make(list(frames)), -1)


def test_an_unknown_method_is_refused(model, clip):
    source, frames = clip
    with pytest.raises(InputError, match="method"):
        find_best_frame(model, source, frames, method="dlib")


@pytest.fixture
def fake_landmarks(monkeypatch, tmp_path):
    """A stand-in face_alignment: a grey level v shows a face turned by 90 v degrees; black, no face."""
    base = np.random.default_rng(4).uniform(50, 100, size=(68, 2))

    class FaceAlignment:
        def __init__(self, kind, flip_input, device):
            pass

        def get_landmarks(self, image):
            level = image.mean() / 255
            return [rotate(base, 90 * level)] if level > 0.02 else None

    module = types.SimpleNamespace(FaceAlignment=FaceAlignment, LandmarksType=types.SimpleNamespace(_2D="2d"))
    monkeypatch.setitem(sys.modules, "face_alignment", module)
    for name in ("2DFAN4_1.6-c827573f02.zip", "s3fd-619a316812.pth"):
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / name).touch()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    face._landmark_model.cache_clear()
    yield
    face._landmark_model.cache_clear()


def grey(level):
    return np.full((32, 32, 3), level, np.float32)


def test_face_landmarks_find_the_closest_pose(fake_landmarks):
    frames = [grey(0.0), grey(0.9), grey(0.0), grey(0.35), grey(0.6)]
    assert find_best_frame(None, grey(0.3), frames, method="landmarks") == 3
    with pytest.raises(FaceNotFoundError, match="source image: no face"):
        find_best_frame(None, grey(0.0), frames, method="landmarks")


def test_face_landmarks_without_face_alignment_are_refused_clearly(monkeypatch):
    monkeypatch.setitem(sys.modules, "face_alignment", None)
    face._landmark_model.cache_clear()
    try:
        with pytest.raises(InputError, match="face_alignment"):
            find_best_frame(None, grey(0.3), [grey(0.3)], method="landmarks")
    finally:
        face._landmark_model.cache_clear()
