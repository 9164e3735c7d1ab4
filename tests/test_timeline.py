"""The timeline widget: one slider scrubs a clip and its track's curves, the cursor at the frame's time."""

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from fomm_nb import AnimationEngine, InputError
from fomm_nb.data import make_video
from fomm_nb.hub import get_model
from fomm_nb.plotting import keypoint_colours, plot_track_speed, render_keypoints_image
from fomm_nb.widgets.timeline import CURSOR_COLOUR, Timeline

FRAMES = 12


@pytest.fixture(scope="module")
def clip():
    model = get_model("demo")
    frames = make_video(seed=4, num_frames=FRAMES, size=model.image_size).frames
    return frames, AnimationEngine(model).track(frames, fps=10.0)


def _png(widget):
    return np.asarray(Image.open(BytesIO(bytes(widget.value))).convert("RGB"))


def _expected_column(ax, seconds):
    """Where ``seconds`` falls on ``ax``, from its x limits and its box (not from its transform)."""
    left, right = ax.get_xlim()
    box = ax.get_window_extent()
    return box.x0 + (seconds - left) / (right - left) * box.width


def test_the_slider_moves_the_frame_and_the_cursor_together(clip):
    frames, track = clip
    timeline = Timeline(frames, track, keypoints=[0, 1, 2], video_size=128)
    columns = []
    for t in (0, 5, FRAMES - 1):
        timeline.slider.value = t
        assert timeline.frame == t and f"frame {t} " in timeline.video.children[0].value
        expected = render_keypoints_image(frames[t], track.value[t, [0, 1, 2]], track.jacobian[t, [0, 1, 2]],
                                          colours=keypoint_colours(track.num_kp)[[0, 1, 2]], size=128)
        assert np.array_equal(timeline.video.picture, expected)
        curves = _png(timeline.curves)
        for ax, column in zip(timeline.figure.axes, timeline.cursor_columns()):
            assert abs(column - _expected_column(ax, t / track.fps)) <= 1
            box = ax.get_window_extent()
            middle = int(curves.shape[0] - (box.y0 + box.y1) / 2)  # the panel's middle row (image rows go down)
            assert tuple(curves[middle, column]) == CURSOR_COLOUR
        columns.append(timeline.cursor_columns()[0])
    assert columns[0] < columns[1] < columns[2]
    assert (columns[1] - columns[0]) / 5 == pytest.approx((columns[2] - columns[1]) / (FRAMES - 6), abs=0.3)


def test_any_track_figure_and_a_length_mismatch(clip):
    frames, track = clip
    timeline = Timeline(frames, track, figure=plot_track_speed(track))
    assert len(timeline.cursor_columns()) == 1
    with pytest.raises(InputError, match="one frame per track frame"):
        Timeline(frames[:-1], track)
