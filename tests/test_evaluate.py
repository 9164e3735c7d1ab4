"""Evaluation: the affine baseline and the landmark regressor on known geometry, and a small full run."""

import numpy as np
import pytest

from fomm_nb.animate import AnimationEngine
from fomm_nb.config import load_config
from fomm_nb.data import make_video
from fomm_nb.evaluate import LandmarkRegressor, affine_warp, evaluate, format_report
from fomm_nb.model import build_model
from test_train import TINY


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


def test_small_evaluation_reports_every_metric():
    config = load_config(TINY)
    model = build_model(config)
    engine = AnimationEngine(model, batch_size=4)
    regressor = LandmarkRegressor.fit(engine, num_videos=3, frames_per_video=4)
    video = make_video(0, 3, 32)
    assert regressor.predict(engine, video.frames).shape == (3, 13, 2)
    report = evaluate(model, num_videos=2, num_frames=3, regressor=regressor)
    for key in ("reconstruction_l1/model", "reconstruction_l1/no_motion", "akd/affine", "cross_identity_l1/relative"):
        assert np.isfinite(report[key]) and report[key] >= 0
    assert report["reconstruction_l1/no_motion"] > 0
    assert "AKD / no motion" in format_report(report)
