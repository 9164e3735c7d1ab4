"""Evaluation: the affine baseline on known geometry, AKD read by the independent detector, and a small full run."""

import numpy as np
import pytest
import skimage.transform
import torch

from fomm_nb.config import load_config
from fomm_nb.data import make_video
from fomm_nb.data.procedural import render, split_seed
from fomm_nb.evaluate import affine_warp, evaluate, format_report
from fomm_nb.landmarks import LandmarkDetector, load_landmark_detector, read_landmarks
from fomm_nb.model import build_model
from test_train import TINY

VIDEOS, FRAMES = 3, 4


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(load_config(TINY)).eval()


@pytest.fixture(scope="module")
def detector():
    return load_landmark_detector()


@pytest.fixture(scope="module")
def report(model, detector):
    return evaluate(model, num_videos=VIDEOS, num_frames=FRAMES, detector=detector)


@pytest.fixture(scope="module")
def videos(model):
    """The held-out videos, drawn again from their seeds; video i is paired with video i + 1 for cross-identity."""
    return [make_video(split_seed("test", index), FRAMES, model.image_size) for index in range(VIDEOS)]


def test_affine_warp_with_equal_landmarks_is_the_identity():
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    points = np.array([[3.0, 4.0], [20.0, 5.0], [10.0, 25.0]])
    assert np.allclose(affine_warp(image, points, points), image, atol=1e-5)


def test_affine_warp_translates_the_content():
    image = np.zeros((32, 32, 3), np.float32)
    image[10, 10] = 1.0
    points = np.array([[3.0, 4.0], [20.0, 5.0], [10.0, 25.0]])
    moved = affine_warp(image, points, points + [5.0, 2.0])
    assert moved[12, 15, 0] == pytest.approx(1.0, abs=1e-5)


def test_small_evaluation_reports_every_metric(report):
    for family in ("reconstruction_l1", "akd", "cross_identity_l1", "cross_identity_akd"):
        for name in ("no_motion", "affine"):
            assert np.isfinite(report[f"{family}/{name}"]) and report[f"{family}/{name}"] >= 0
    for key in ("reconstruction_l1/model", "akd/model", "akd/ground_truth", "cross_identity_l1/relative",
                "cross_identity_akd/absolute"):
        assert np.isfinite(report[key]) and report[key] >= 0
    assert report["reconstruction_l1/no_motion"] > 0
    text = format_report(report)
    assert "AKD / no motion" in text and "independent landmark detector" in text


def test_akd_is_read_by_the_detector_not_by_the_model_under_test(model, detector, report):
    """Another model (other weights) changes the model's AKD, not the baselines' nor the detector's floor.

    A self-read AKD (the model's keypoints, then a regressor) gives every baseline a different score per model.
    """
    torch.manual_seed(1)
    other = evaluate(build_model(load_config(TINY)).eval(), num_videos=VIDEOS, num_frames=FRAMES, detector=detector)
    for key in ("akd/no_motion", "akd/affine", "akd/ground_truth", "cross_identity_akd/no_motion",
                "cross_identity_akd/affine"):
        assert other[key] == report[key]
    assert other["akd/model"] != report["akd/model"]


def test_akd_of_the_still_source_equals_a_recomputation(detector, report, videos):
    """The detector on the first frame held still, against every frame's true landmarks, in pixels."""
    errors = [np.linalg.norm(read_landmarks(detector, video.frames[:1]) - video.landmarks, axis=-1).mean()
              for video in videos]
    assert report["akd/no_motion"] == pytest.approx(np.mean(errors), rel=1e-5)
    floor = [np.linalg.norm(read_landmarks(detector, video.frames) - video.landmarks, axis=-1).mean() for video in videos]
    assert report["akd/ground_truth"] == pytest.approx(np.mean(floor), rel=1e-5)


def test_the_progress_bar_is_closed_before_an_error_propagates(model, capfd):
    """An error after the bar started (here: a detector of 5 landmarks against 13) finds the bar's line ended.

    Read while the error is in flight, as the command's handler prints it (later, garbage collection closes any bar).
    """
    try:
        evaluate(model, num_videos=2, num_frames=2, detector=LandmarkDetector(num_landmarks=5, width=4), progress=True)
    except ValueError:
        err = capfd.readouterr().err
    assert "evaluating" in err and err.endswith("\n")


def test_no_motion_baselines_equal_a_recomputation_from_the_frames(report, videos):
    """The first frame held still, against every frame: mean absolute difference, averaged over the videos."""
    still = [np.abs(video.frames - video.frames[0]).mean() for video in videos]
    assert report["reconstruction_l1/no_motion"] == pytest.approx(np.mean(still), rel=1e-6)
    size = videos[0].frames.shape[1]
    cross = []
    for video, other in zip(videos, videos[1:] + videos[:1]):
        truth = np.stack([render(video.identity, pose, size) for pose in other.poses])
        cross.append(np.abs(truth - truth[0]).mean())  # identity A held in B's first pose
    assert report["cross_identity_l1/no_motion"] == pytest.approx(np.mean(cross), rel=1e-6)


def test_affine_baseline_equals_scikit_images_affine_warp(report, videos):
    """The least-squares affine map of the landmarks, fitted in pixels and applied by scikit-image instead."""
    errors = []
    for video in videos:
        source = video.frames[0]
        warped = []
        for points in video.landmarks:
            # output pixel -> source pixel, (3, 2), by ordinary least squares
            backward, *_ = np.linalg.lstsq(np.c_[points, np.ones(len(points))], video.landmarks[0], rcond=None)
            matrix = np.vstack([backward.T, [0.0, 0.0, 1.0]])
            transform = skimage.transform.AffineTransform(matrix=matrix)
            warped.append(skimage.transform.warp(source, transform, order=1, mode="edge"))
        errors.append(np.abs(np.stack(warped) - video.frames).mean())
    assert report["reconstruction_l1/affine"] == pytest.approx(np.mean(errors), rel=1e-6)


@torch.no_grad()
def test_model_reconstruction_equals_a_frame_by_frame_recomputation(model, report, videos):
    """The first frame animated by its video in absolute mode, one frame at a time, without the engine."""
    as_tensor = lambda image: torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    errors = []
    for video in videos:
        source = as_tensor(video.frames[0])
        kp_source = model.kp_detector(source)
        for frame in video.frames:
            kp_driving = model.kp_detector(as_tensor(frame))
            prediction = model.generator(source, kp_source=kp_source, kp_driving=kp_driving)["prediction"]
            errors.append(np.abs(prediction[0].permute(1, 2, 0).numpy() - frame).mean())
    assert report["reconstruction_l1/model"] == pytest.approx(np.mean(errors), rel=1e-6)
