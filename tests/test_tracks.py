"""Motion tracks without rendering: the file format and its checks, the filters, keyframes and measures."""

import json

import numpy as np
import pytest
from scipy.signal import savgol_filter

from fomm_nb.hub import get_model
from fomm_nb.tracks import (
    FILTERS,
    Keyframe,
    KeypointSmoother,
    MotionTrack,
    OneEuro,
    TrackError,
    detector_fingerprint,
    interpolate,
    jitter,
    lag,
    make_filter,
    smooth,
    track_from_keyframes,
    with_keyframes,
)
from fomm_nb.tracks.polar import from_polar, to_polar


@pytest.fixture(scope="module")
def model():
    return get_model("demo", device="cpu")


def _rotations(angles, scales=(1.0, 1.0)):
    cos, sin = np.cos(angles), np.sin(angles)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    return rotation @ np.diag(scales)


def _track(model, num_frames=12, seed=0, **changes):
    rng = np.random.default_rng(seed)
    value = rng.uniform(-0.5, 0.5, (num_frames, model.config.num_kp, 2))
    jacobian = _rotations(rng.uniform(-1, 1, (num_frames, model.config.num_kp)), (1.2, 0.8))
    fields = dict(value=value, jacobian=jacobian, fps=25.0, model=model.config.name,
                  fingerprint=detector_fingerprint(model), initial_frame=2, metadata={"driving": "talk.mp4"})
    return MotionTrack(**{**fields, **changes})


# --- the file ---------------------------------------------------------------------------------------------------


def test_save_load_round_trip(model, tmp_path):
    track = _track(model)
    loaded = MotionTrack.load(track.save(tmp_path / "motion.npz"), model=model)
    np.testing.assert_array_equal(loaded.value, track.value)
    np.testing.assert_array_equal(loaded.jacobian, track.jacobian)
    assert (loaded.fps, loaded.model, loaded.fingerprint, loaded.initial_frame, loaded.metadata) == (
        25.0, "faces-13k", detector_fingerprint(model), 2, {"driving": "talk.mp4"})
    assert [path.name for path in tmp_path.iterdir()] == ["motion.npz"]  # no temporary file left


def test_round_trip_without_jacobians_and_json_export(model, tmp_path):
    track = _track(model, jacobian=None)
    assert MotionTrack.load(track.save(tmp_path / "motion.npz")).jacobian is None
    document = json.loads(track.to_json(tmp_path / "motion.json").read_text())
    assert document["version"] == 1 and document["jacobian"] is None
    np.testing.assert_allclose(document["value"], track.value)


def test_the_fingerprint_follows_the_detector_weights(model):
    other = get_model("demo", device="cpu")
    assert detector_fingerprint(other) == detector_fingerprint(model)
    with __import__("torch").no_grad():
        next(other.kp_detector.parameters()).add_(1e-3)
    assert detector_fingerprint(other) != detector_fingerprint(model)


def _write(path, header_changes=None, drop=(), **arrays):
    """A track file written by hand, with some part of it broken."""
    header = {"version": 1, "fps": 25.0, "model": "faces-13k", "fingerprint": "0" * 16, "initial_frame": 0,
              "metadata": {}, **(header_changes or {})}
    contents = {"value": np.zeros((4, 10, 2), np.float32), "jacobian": np.tile(np.eye(2, dtype=np.float32), (4, 10, 1, 1)),
                "header": np.array(json.dumps(header)), **arrays}
    np.savez(path, **{name: array for name, array in contents.items() if name not in drop})
    return path


BAD_FILES = {
    "not a file": (lambda path: path, "no such motion track file"),
    "text": (lambda path: (path.write_text("hello"), path)[1], "not a motion track (.npz) file"),
    "no header": (lambda path: _write(path, drop=("header",)), "lacks the 'value' or 'header' array"),
    "header not json": (lambda path: _write(path, header=np.array("{oops")), "header is not JSON"),
    "version": (lambda path: _write(path, {"version": 7}), "track format version 7; this fomm-nb reads version 1"),
    "no fps": (lambda path: _write(path, {"fps": "fast"}), "lacks 'fps' or it is not a number"),
    "value shape": (lambda path: _write(path, value=np.zeros((4, 10, 3))), "value must be (T, K, 2)"),
    "empty": (lambda path: _write(path, value=np.zeros((0, 10, 2))), "value must be (T, K, 2) with T >= 1"),
    "jacobian shape": (lambda path: _write(path, jacobian=np.zeros((4, 10, 2))), "jacobian must be (T, K, 2, 2)"),
    "nan": (lambda path: _write(path, value=np.pad(np.full((1, 10, 2), np.nan), ((3, 0), (0, 0), (0, 0)))),
            "value holds NaN or infinite numbers (first at frame 3)"),
    "infinite jacobian": (lambda path: _write(path, jacobian=np.full((4, 10, 2, 2), np.inf)),
                          "jacobian holds NaN or infinite numbers"),
    "fps": (lambda path: _write(path, {"fps": -1}), "fps must be a positive number"),
    "initial frame": (lambda path: _write(path, {"initial_frame": 4}), "initial_frame 4 is not a frame of the track"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_refused_in_one_line(case, tmp_path):
    make, message = BAD_FILES[case]
    path = make(tmp_path / "motion.npz")
    with pytest.raises(TrackError) as error:
        MotionTrack.load(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(str(path)) and message in text, text


@pytest.mark.parametrize("case, make, message", [
    ("keypoints", lambda path: _write(path, value=np.zeros((4, 5, 2)), drop=("jacobian",)),
     "the track has 5 keypoints, the model 'faces-13k' 10"),
    ("jacobians", lambda path: _write(path, drop=("jacobian",)), "needs Jacobians (T, K, 2, 2); the track has none"),
    ("fingerprint", lambda path: _write(path), "its keypoints mean something else"),
])
def test_a_track_for_another_model_is_refused_in_one_line(case, make, message, model, tmp_path):
    path = make(tmp_path / "motion.npz")
    MotionTrack.load(path)  # a valid file ...
    with pytest.raises(TrackError) as error:  # ... made for another model
        MotionTrack.load(path, model=model)
    text = str(error.value)
    assert "\n" not in text and text.startswith(str(path)) and message in text, text


def test_a_failed_save_leaves_the_old_file_as_it_was(model, tmp_path):
    path = _track(model).save(tmp_path / "motion.npz")
    before = path.read_bytes()
    with pytest.raises(TypeError):
        _track(model, metadata={"bad": object()}).save(path)
    with pytest.raises(TrackError, match="does not exist"):
        _track(model).save(tmp_path / "missing" / "motion.npz")
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["motion.npz"]


# --- filters -----------------------------------------------------------------------------------------------------


def _turning_track(num_frames=60, seed=1, reflected=False):
    """Jacobians turning through +-180 degrees, shaking, stretched along a wandering axis; noisy positions."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(2.0, 5.0, num_frames)[:, None] + rng.normal(0, 1.0, (num_frames, 3))
    axes = rng.uniform(0, np.pi, (num_frames, 3))
    jacobian = _rotations(angles) @ _rotations(axes) @ np.diag([0.2, 1.0]) @ _rotations(-axes)
    if reflected:
        jacobian = jacobian @ np.diag([1.0, -1.0])
    value = rng.normal(0, 0.05, (num_frames, 3, 2))
    return MotionTrack(value, jacobian, 25.0, "test", "0" * 16)


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("reflected", [False, True])
def test_filters_keep_the_sign_of_jacobian_determinants(name, reflected):
    track = _turning_track(reflected=reflected)
    smoothed = smooth(track, name)
    assert np.array_equal(np.sign(np.linalg.det(smoothed.jacobian)), np.sign(np.linalg.det(track.jacobian)))
    assert jitter(smoothed.value).mean() < jitter(track.value).mean()


def test_entry_by_entry_smoothing_would_flip_determinants():
    """The data of the test above has teeth: filtering raw entries turns patches inside out."""
    track = _turning_track()
    for naive in (savgol_filter(track.jacobian, 9, 2, axis=0), OneEuro()(track.jacobian.reshape(60, -1), 25.0)):
        assert (np.linalg.det(naive.reshape(track.jacobian.shape)) <= 0).any()


def test_one_euro_passes_a_step_with_at_most_one_frame_of_lag():
    for height in (0.05, 0.2, 1.0):  # 1.5 to 30 pixels at 64x64
        step = np.r_[np.zeros(20), np.full(20, height)][:, None]
        filtered = OneEuro()(step, fps=25.0)
        assert abs(lag(filtered, step)) <= 1
        assert filtered[21, 0] >= 0.5 * height  # past half way one frame after the step


def test_one_euro_smooths_a_still_noisy_point_hard():
    noise = np.random.default_rng(0).normal(0, 0.01, (200, 2))
    assert jitter(OneEuro()(noise, 25.0)[:, None]).item() < 0.3 * jitter(noise[:, None]).item()


@pytest.mark.parametrize("name", ["savgol", "gaussian"])
def test_centred_filters_have_no_lag(name):
    wave = np.sin(np.arange(100) / 6)[:, None]
    assert lag(make_filter(name)(wave, 25.0), wave) == 0


def test_the_live_smoother_equals_the_offline_filter():
    track = _turning_track(20)
    live = KeypointSmoother("one-euro", fps=track.fps)
    frames = [live(value, jacobian) for value, jacobian in zip(track.value, track.jacobian)]
    offline = smooth(track, "one-euro")
    np.testing.assert_allclose(np.stack([value for value, _ in frames]), offline.value, atol=1e-6)
    np.testing.assert_allclose(np.stack([jacobian for _, jacobian in frames]), offline.jacobian, atol=1e-5)


@pytest.mark.parametrize("fps", [25.0, 5.0])
def test_one_euro_with_time_steps_answers_in_seconds_whatever_the_frame_rate(fps):
    # A live camera under load delivers 5 frames a second instead of 25: with each frame's dt the
    # low-pass reaches the same level 0.4 s after a step; with the nominal rate it lags twice as far.
    times = np.arange(0, 2.001, 1 / fps)
    step = (times >= 1).astype(float)[:, None]
    at = np.searchsorted(times, 1.4 - 1e-9)
    timed = OneEuro(beta=0.0).stream(25.0)
    with_dt = np.array([timed(sample, 1 / fps)[0] for sample in step])
    assert with_dt[at] == pytest.approx(0.915, abs=0.005)
    nominal = OneEuro(beta=0.0).stream(25.0)
    without_dt = np.array([nominal(sample)[0] for sample in step])
    assert fps == 25.0 or without_dt[at] < 0.6  # the reason for dt: frames further apart than 1/fps


def test_the_live_smoother_takes_time_steps():
    track = _turning_track(20)
    steady, timed = KeypointSmoother("kalman", fps=track.fps), KeypointSmoother("kalman", fps=track.fps)
    for value, jacobian in zip(track.value, track.jacobian):
        expected = steady(value, jacobian)
        got = timed(value, jacobian, dt=1 / track.fps)
    np.testing.assert_allclose(got[0], expected[0], atol=1e-9)
    np.testing.assert_allclose(got[1], expected[1], atol=1e-9)


def test_unknown_filters_and_parameters_are_one_line_errors():
    with pytest.raises(TrackError.__mro__[2], match="unknown filter 'median'"):
        make_filter("median")
    with pytest.raises(ValueError, match="the one-euro filter takes min_cutoff, beta, d_cutoff"):
        make_filter("one-euro", cutoff=3)
    with pytest.raises(ValueError, match="not a causal filter"):
        KeypointSmoother("savgol")


# --- polar coordinates and keyframes -----------------------------------------------------------------------------


def test_polar_coordinates_round_trip():
    jacobian = np.random.default_rng(0).normal(size=(100, 2, 2))
    angle, log_stretch, sign = to_polar(jacobian)
    np.testing.assert_allclose(from_polar(angle, log_stretch, sign), jacobian, atol=1e-12)
    assert np.array_equal(sign, np.sign(np.linalg.det(jacobian)))


def test_keyframe_interpolation_passes_exactly_through_its_keyframes():
    rng = np.random.default_rng(3)
    keyframes = [Keyframe(frame, rng.uniform(-1, 1, (4, 2)), _rotations(rng.uniform(-3, 3, 4), (1.5, 0.5)))
                 for frame in (2, 7, 8, 20)]
    value, jacobian = interpolate(keyframes, num_frames=25)
    for keyframe in keyframes:
        np.testing.assert_allclose(value[keyframe.frame], keyframe.value, atol=1e-6)
        np.testing.assert_allclose(jacobian[keyframe.frame], keyframe.jacobian, atol=1e-6)
    np.testing.assert_allclose(value[:2], value[[2, 2]])  # held before the first keyframe
    assert (np.linalg.det(jacobian) > 0).all()


def test_keyframed_jacobians_turn_the_short_way_round():
    start, end = np.radians(170), np.radians(-170)
    value = np.zeros((1, 2))
    _, jacobian = interpolate([Keyframe(0, value, _rotations(np.array([start]))),
                               Keyframe(10, value, _rotations(np.array([end])))], num_frames=11)
    angle, _, _ = to_polar(jacobian[5, 0])
    assert abs(abs(np.degrees(angle)) - 180) < 1e-6  # through 180 degrees, not through 0
    np.testing.assert_allclose(np.linalg.det(jacobian[:, 0]), 1.0, atol=1e-6)  # no shrinking on the way


def test_a_track_from_keyframes_and_an_edited_track_pass_through_the_keyframes(model):
    neutral = Keyframe(0, np.zeros((10, 2)), np.tile(np.eye(2), (10, 1, 1)))
    turned = Keyframe(5, np.full((10, 2), 0.1), _rotations(np.full(10, 0.5), (1.1, 0.9)))
    track = track_from_keyframes([neutral, turned], num_frames=8, model=model)
    track.check_model(model)
    np.testing.assert_allclose(track.jacobian[5], turned.jacobian, atol=1e-6)

    detailed = _track(model, num_frames=30)
    edited = with_keyframes(detailed, [Keyframe(10, np.zeros((10, 2)), _rotations(np.zeros(10))),
                                       Keyframe(20, np.full((10, 2), 0.3), _rotations(np.full(10, 3.0)))])
    np.testing.assert_allclose(edited.value[[10, 20]], [np.zeros((10, 2)), np.full((10, 2), 0.3)], atol=1e-6)
    np.testing.assert_allclose(edited.jacobian[20], _rotations(np.full(10, 3.0)), atol=1e-5)
    # between the keyframes the track's own motion stays: frame-to-frame changes differ only by the smooth edit
    detail = np.diff(edited.value, axis=0) - np.diff(detailed.value, axis=0)
    assert np.abs(detail).max() < 0.5 * np.abs(np.diff(detailed.value, axis=0)).max()


def test_keyframes_that_flip_a_determinant_are_refused():
    with pytest.raises(ValueError, match="flips its determinant's sign"):
        interpolate([Keyframe(0, np.zeros((1, 2)), np.eye(2)[None]),
                     Keyframe(4, np.zeros((1, 2)), np.diag([1.0, -1.0])[None])], num_frames=5)


# --- measures ----------------------------------------------------------------------------------------------------


def test_lag_finds_a_known_delay():
    rng = np.random.default_rng(0)
    motion = np.cumsum(rng.normal(size=(60, 4, 2)), axis=0)
    assert lag(motion[:-3], motion[3:]) == 3  # the first is 3 frames behind the second
    assert lag(motion, motion) == 0
