"""Tracks extracted from videos and replayed: the same frames as animating from the video, by the API and the CLI."""

import numpy as np
import pytest
import torch

from fomm_nb.animate import AnimationEngine
from fomm_nb.cli import main
from fomm_nb.data.procedural import make_video, split_seed
from fomm_nb.hub import get_model
from fomm_nb.media import read_video, write_image, write_video
from fomm_nb.tracks import MotionTrack, TrackError, smooth


@pytest.fixture(scope="module")
def model():
    return get_model("demo", device="cpu")


@pytest.fixture(scope="module")
def clip():
    return make_video(split_seed("test", 0), num_frames=11, size=64)


def test_replaying_an_unedited_track_gives_the_frames_of_the_video(model, clip):
    engine = AnimationEngine(model, batch_size=4)
    source = make_video(split_seed("test", 1), num_frames=1).frames[0]
    engine.set_source(source)
    expected = np.stack(list(engine.stream(clip.frames)))
    track = engine.track(clip.frames, fps=12.5)
    assert track.value.shape == (11, 10, 2) and track.jacobian.shape == (11, 10, 2, 2) and track.fps == 12.5
    engine.set_source(source)
    replayed = np.stack(list(engine.stream_track(track)))
    np.testing.assert_allclose(replayed, expected, atol=1e-5)
    assert np.abs(expected[1:] - expected[0]).max() > 0.1  # the clip moves: equal frames are not trivially equal

    smoothed = np.stack(list(engine.stream_track(smooth(track, "savgol"))))
    assert np.abs(smoothed - expected).max() > 1e-3  # smoothing changes what is painted


def test_the_initial_frame_of_the_track_is_the_reference_of_relative_motion(model, clip):
    engine = AnimationEngine(model, batch_size=4)
    engine.set_source(clip.frames[5])
    track = engine.track(clip.frames).replace(initial_frame=5)
    frames = np.stack(list(engine.stream_track(track)))
    # relative motion from frame 5 on the source that is frame 5: that frame comes back (nearly) as it was
    assert np.abs(frames[5] - clip.frames[5]).mean() < np.abs(frames[0] - clip.frames[5]).mean()


def test_a_track_of_another_detector_is_refused(model, clip):
    engine = AnimationEngine(model)
    engine.set_source(clip.frames[0])
    track = engine.track(clip.frames[:2])
    other = get_model("demo", device="cpu")
    with torch.no_grad():
        next(other.kp_detector.parameters()).mul_(1.01)
    other_engine = AnimationEngine(other)
    other_engine.set_source(clip.frames[0])
    with pytest.raises(TrackError, match="its keypoints mean something else"):
        next(other_engine.stream_track(track))


@pytest.fixture
def files(tmp_path, clip):
    write_image(tmp_path / "face.png", make_video(split_seed("test", 2), num_frames=1).frames[0])
    write_video(tmp_path / "talk.mp4", clip.frames, fps=10)
    return tmp_path


def test_cli_replay_writes_the_same_video_as_animating_from_the_driving_video(files, capsys):
    source, driving = str(files / "face.png"), str(files / "talk.mp4")
    assert main(["track", "--driving", driving, "--out", str(files / "motion.npz"), "--json", str(files / "motion.json"),
                 "--batch-size", "4"]) == 0
    assert "wrote" in capsys.readouterr().out
    track = MotionTrack.load(files / "motion.npz", model=get_model("demo"))
    assert len(track) == 11 and track.fps == 10 and track.metadata["driving"] == "talk.mp4"
    assert main(["animate", "--source", source, "--motion", str(files / "motion.npz"), "--out", str(files / "replay.mp4"),
                 "--batch-size", "4"]) == 0
    assert main(["animate", "--source", source, "--driving", driving, "--out", str(files / "video.mp4"),
                 "--batch-size", "4"]) == 0
    assert (files / "replay.mp4").read_bytes() == (files / "video.mp4").read_bytes()


def test_cli_smooths_when_tracking_and_when_animating(files, capsys):
    source, driving = str(files / "face.png"), str(files / "talk.mp4")
    assert main(["track", "--driving", driving, "--out", str(files / "smooth.npz"), "--smooth", "one-euro"]) == 0
    assert "OneEuro" in MotionTrack.load(files / "smooth.npz").metadata["smoothing"]
    assert main(["track", "--driving", driving, "--out", str(files / "default.npz"), "--smooth"]) == 0  # the default
    assert "SavitzkyGolay" in MotionTrack.load(files / "default.npz").metadata["smoothing"]
    assert main(["animate", "--source", source, "--driving", driving, "--smooth", "kalman",
                 "--out", str(files / "kalman.mp4")]) == 0
    assert main(["animate", "--source", source, "--driving", driving, "--out", str(files / "plain.mp4")]) == 0
    smoothed, fps = read_video(files / "kalman.mp4")
    plain, _ = read_video(files / "plain.mp4")
    assert smoothed.shape == plain.shape and fps == 10 and np.abs(smoothed - plain).max() > 0.02


@pytest.mark.parametrize("args, message", [
    (["--motion", "{files}/missing.npz"], "missing.npz: no such motion track file"),
    (["--motion", "{files}/face.png"], "face.png: not a motion track (.npz) file"),
    ([], "give the motion by --driving VIDEO or by --motion TRACK"),
    (["--motion", "{files}/motion.npz", "--driving", "{files}/talk.mp4"], "(one of them)"),
    (["--motion", "{files}/motion.npz", "--side-by-side", "{files}/s.mp4"], "--side-by-side needs the driving video"),
])
def test_cli_replay_errors_are_one_line_with_status_2(files, capsys, args, message):
    MotionTrack(np.zeros((2, 10, 2)), np.tile(np.eye(2), (2, 10, 1, 1)), 25.0, "faces-13k", "0" * 16).save(files / "motion.npz")
    status = main(["animate", "--source", str(files / "face.png"), "--out", str(files / "out.mp4"),
                   *[arg.format(files=files) for arg in args]])
    error = capsys.readouterr().err
    assert status == 2 and message in error and error.count("\n") == 1, error
    assert not (files / "out.mp4").exists()


def test_evaluate_smooth_prints_the_ground_truth_table(capsys):
    assert main(["evaluate", "--smooth", "savgol", "--videos", "1", "--frames", "8"]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| clean") or line.startswith("| degraded")]
    assert [row.split("|")[1:3] for row in rows] == [[" clean ", " none "], [" clean ", " savgol "],
                                                     [" degraded ", " none "], [" degraded ", " savgol "]]
    degraded_jitter = [float(row.split("|")[3].split()[0]) for row in rows[2:]]
    assert degraded_jitter[1] < 0.5 * degraded_jitter[0]  # the webcam's shake is smoothed away


def test_webcam_degradation_shakes_by_at_most_one_pixel():
    from fomm_nb.tracks.evaluation import degrade_like_webcam

    frame = np.zeros((1, 32, 32, 3), np.float32)
    frame[0, 16, 16] = 1.0
    shaken = degrade_like_webcam(np.repeat(frame, 20, axis=0), np.random.default_rng(0), noise=0.0, quality=95)
    peaks = {np.unravel_index(image.sum(-1).argmax(), (32, 32)) for image in shaken}
    assert 1 < len(peaks) <= 9 and all(abs(y - 16) <= 1 and abs(x - 16) <= 1 for y, x in peaks)
