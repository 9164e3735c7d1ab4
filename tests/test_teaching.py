"""The helpers of the math and training notebooks: logits, softmax, expectation, pictures, live training."""

import numpy as np
import pytest
import torch

from fomm_nb import InputError
from fomm_nb.data import ProceduralFaces, make_video
from fomm_nb.geometry import make_coordinate_grid
from fomm_nb.live_training import TrainingMonitor, tiny_config, train_live
from fomm_nb.media import to_tensor
from fomm_nb.model import build_model
from fomm_nb.teaching import (detector_logits, local_grid, plot_coordinate_grid, plot_equivariance,
                              plot_reference_frame, plot_temperatures, spatial_expectation, spatial_softmax)
from fomm_nb.train import Trainer, TrainSettings


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(tiny_config())


@pytest.fixture(scope="module")
def frames():
    return make_video(seed=5, num_frames=2, size=64).frames


def test_softmax_of_the_logits_at_the_detectors_temperature_is_its_heatmap(model, frames):
    image = to_tensor(frames[:1])
    detected = model.kp_detector(image, return_heatmap=True)
    heatmap = spatial_softmax(detector_logits(model.kp_detector, image), model.kp_detector.temperature)
    assert torch.allclose(heatmap, detected["heatmap"], atol=1e-6)
    assert torch.allclose(spatial_expectation(heatmap), detected["value"], atol=1e-5)


def test_the_notebook_shows_the_detectors_own_functions():
    """One copy of the softmax and the expectation: the detector's, which teaching re-exports."""
    from fomm_nb import geometry, teaching
    from fomm_nb.modules import keypoint_detector

    assert teaching.spatial_softmax is keypoint_detector.spatial_softmax is geometry.spatial_softmax
    assert teaching.spatial_expectation is keypoint_detector.spatial_expectation is geometry.spatial_expectation


def test_expectation_of_one_hot_maps_is_their_grid_point():
    heatmap = torch.zeros(1, 2, 5, 7)
    heatmap[0, 0, 1, 3] = 1.0
    heatmap[0, 1, 4, 0] = 1.0
    grid = make_coordinate_grid((5, 7))
    assert torch.allclose(spatial_expectation(heatmap)[0], torch.stack([grid[1, 3], grid[4, 0]]))


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[[[0.0, 1.0, 2.0]]]])
    cold, hot = spatial_softmax(logits, 0.01), spatial_softmax(logits, 100.0)
    assert cold[0, 0, 0, 2] > 0.999
    assert torch.allclose(hot, torch.full_like(hot, 1 / 3), atol=0.01)


def test_local_grid_is_centred_lines():
    lines = local_grid(np.array([0.5, -0.25]), radius=0.1, lines=5, points=11)
    assert lines.shape == (10, 11, 2)
    assert np.allclose(lines.reshape(-1, 2).mean(0), [0.5, -0.25])
    assert np.isclose(np.abs(lines - [0.5, -0.25]).max(), 0.1)


def test_pictures(model, frames):
    image = to_tensor(frames[:1])
    kp = model.kp_detector(image)
    assert len(plot_coordinate_grid((5, 5)).axes) >= 3
    logits = detector_logits(model.kp_detector, image)
    assert len(plot_temperatures(frames[0], logits, 2, [0.05, 0.1, 1.0], true_temperature=0.1).axes) == 3
    assert len(plot_reference_frame(frames[0], frames[1], kp, kp, 0).axes) == 3
    value = kp["value"][0]
    assert len(plot_equivariance(frames[0], frames[1], value, value, value).axes) == 3


def test_tiny_config_is_narrow_and_keeps_the_rest():
    config = tiny_config()
    assert config.kp_detector_params["max_features"] == 32
    assert config.generator_params["dense_motion_params"]["block_expansion"] == 8
    assert config.num_kp == 10 and config.image_size == 64
    assert config.train_params  # the losses and learning rates of the bundled model


def test_train_live_runs_steps_and_records_losses(frames):
    torch.manual_seed(0)
    model = build_model(tiny_config())
    trainer = Trainer(model, TrainSettings(batch_size=2, vgg19=None))
    history = train_live(trainer, ProceduralFaces("train", num_videos=8), steps=3, frames=frames, every=2, display=False)
    assert [row["step"] for row in history] == [1, 2, 3] and trainer.step == 3
    assert all(np.isfinite(row["total"]) for row in history)
    assert model.kp_detector.training  # the monitor's eval-mode detection leaves training mode as it was


def test_monitor_draws_one_panel_per_frame_and_checks_its_input(model, frames):
    monitor = TrainingMonitor(model, frames, display=False)
    monitor.record(1, {"total": 2.0, "reconstruction": 1.5})
    monitor.draw()
    assert len(monitor.figure.axes) == 1 + len(frames)
    assert len(monitor.loss_ax.get_lines()) == 2
    with pytest.raises(InputError, match="frames must be"):
        TrainingMonitor(model, frames[0], display=False)
    trainer = Trainer(model, TrainSettings(batch_size=2, vgg19=None))
    with pytest.raises(InputError, match="steps must be"):
        train_live(trainer, ProceduralFaces("train"), 0, frames, display=False)


def test_monitor_title_counts_steps_of_the_run_with_an_eta_and_starts_without_empty_axes(model, frames):
    monitor = TrainingMonitor(model, frames, display=False, total_steps=60)
    monitor.draw()  # before any step: a note, not empty axes
    assert monitor.loss_ax.get_title() == "losses: starting…"
    assert [text.get_text() for text in monitor.loss_ax.texts] == ["the losses appear\nafter the first step"]
    assert not monitor.loss_ax.get_xticks().size and not monitor.loss_ax.get_lines()
    monitor.record(31, {"total": 2.0}, seconds=1.0)  # a resumed trainer's step 31 is this run's first
    monitor.record(32, {"total": 1.5}, seconds=4.0)
    monitor.draw()
    assert monitor.loss_ax.get_title() == "step 2 / 60, ETA 1:56"  # 2 s a step, 58 to go
    assert not monitor.loss_ax.texts and len(monitor.loss_ax.get_lines()) == 1
