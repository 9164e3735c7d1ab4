"""Figures of motion tracks: each draws the numbers of the track it is given."""

import numpy as np
import pytest

from fomm_nb.plotting import plot_jitter, plot_track_jacobians, plot_track_positions, plot_track_speed, plot_trajectories
from fomm_nb.tracks import MotionTrack, jitter, smooth


@pytest.fixture(scope="module")
def track():
    rng = np.random.default_rng(0)
    angles = np.linspace(0, 4, 30)[:, None] + rng.normal(0, 0.1, (30, 3))
    cos, sin = np.cos(angles), np.sin(angles)
    jacobian = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2) * 1.5
    return MotionTrack(rng.normal(0, 0.1, (30, 3, 2)), jacobian, 10.0, "test", "0" * 16)


def test_positions_are_drawn_against_time_in_seconds(track):
    figure = plot_track_positions(track, compare=smooth(track, "savgol"), keypoints=[1])
    x_panel, y_panel = figure.axes
    raw, smoothed = x_panel.lines  # dashed track, then the solid comparison
    np.testing.assert_allclose(raw.get_xdata(), np.arange(30) / 10.0)
    np.testing.assert_allclose(raw.get_ydata(), track.value[:, 1, 0])
    np.testing.assert_allclose(y_panel.lines[1].get_ydata(), smooth(track, "savgol").value[:, 1, 1])
    assert raw.get_linestyle() == "--" and smoothed.get_linestyle() == "-"


def test_jacobian_rotation_is_unwrapped_and_scales_come_from_the_polar_decomposition(track):
    rotation, larger, smaller = plot_track_jacobians(track).axes
    angles = rotation.lines[0].get_ydata()
    assert np.abs(np.diff(angles)).max() < 60 and angles[-1] > 180  # one continuous turn past 180 degrees
    np.testing.assert_allclose(larger.lines[0].get_ydata(), 1.5)
    np.testing.assert_allclose(smaller.lines[0].get_ydata(), 1.5)


def test_speed_jitter_and_trajectories(track):
    assert len(plot_track_speed(track).axes[0].lines) == 3
    bars = plot_jitter({"raw": track, "smoothed": smooth(track, "savgol")}, pixels=65).axes[0].patches
    np.testing.assert_allclose([bar.get_height() for bar in bars[:3]], jitter(track.value) * 32)
    figure = plot_trajectories(track, smooth(track, "one-euro"), image=np.zeros((64, 64, 3)))
    assert len(figure.axes) == 2 and figure.axes[1].get_title() == "after smoothing"
