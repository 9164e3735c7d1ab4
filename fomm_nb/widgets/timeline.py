"""A timeline: one frame slider that scrubs a video and its motion track's curves together.

The curves (by default :func:`~fomm_nb.plotting.plot_track_positions`) are
drawn by matplotlib once; moving the slider only copies that picture and
draws a cursor line at the frame's time on each panel (numpy), beside the
video frame with the track's numbered keypoints on it. A play button runs
through the clip.

Example:
    >>> track = engine.track(frames)  # doctest: +SKIP
    >>> Timeline(frames, track, keypoints=[0, 1, 2])  # shows it in a notebook  # doctest: +SKIP
"""

import io
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import traitlets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..errors import InputError
from ..plotting import keypoint_colours, plot_track_positions, render_keypoints_image
from ..tracks import MotionTrack
from .panels import PAGE_STYLE, LivePanel

__all__ = ["Timeline", "CURSOR_COLOUR"]

CURSOR_COLOUR = (220, 0, 0)  # the cursor line on the curves


class Timeline(widgets.VBox):
    """The frames ``(T, H, W, 3)`` of a clip and the curves of its ``track`` (``T`` frames), on one slider.

    Args:
        frames: ``(T, H, W, 3)`` float in [0, 1] (or uint8).
        track: a :class:`~fomm_nb.tracks.MotionTrack` of those frames.
        figure: the curves, a matplotlib figure with time in seconds on the x
            axis (default :func:`~fomm_nb.plotting.plot_track_positions` of ``track``).
        keypoints: the keypoints to plot and draw (default: all).
        video_size: side of the shown frame, in pixels.

    Trait: ``frame``. ``figure`` is the curves' figure; ``cursor_columns`` gives the cursor's pixel column on each panel for the current frame.
    """

    frame = traitlets.Int(0)

    def __init__(self, frames: np.ndarray, track: MotionTrack, figure: Figure | None = None,
                 keypoints: Sequence[int] | None = None, video_size: int = 256) -> None:
        self.frames = np.asarray(frames)
        if self.frames.ndim != 4 or len(self.frames) != len(track):
            raise InputError(f"the timeline needs one frame per track frame: frames {self.frames.shape}, "
                             f"track {len(track)} frames")
        self.track = track
        self.keypoints = list(range(track.num_kp)) if keypoints is None else list(keypoints)
        figure = plot_track_positions(track, keypoints=self.keypoints) if figure is None else figure
        self.figure = figure
        self._curves, self._panels = _rasterized(figure)
        self.video = LivePanel("frame 0", video_size)
        self.curves = widgets.Image(format="png", width=self._curves.shape[1])
        self.slider = widgets.IntSlider(0, 0, len(track) - 1, description="frame", continuous_update=True)
        self.play = widgets.Play(0, 0, len(track) - 1, interval=int(1000 / track.fps), description="play")
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        widgets.link((self.slider, "value"), (self, "frame"))
        super().__init__([widgets.HTML(PAGE_STYLE), widgets.HBox([self.play, self.slider]),
                          widgets.HBox([self.video, self.curves])])
        self.add_class("fomm-timeline")
        self._show(0)

    @traitlets.observe("frame")
    def _on_frame(self, change):
        self._show(change["new"])

    def cursor_columns(self, t: int | None = None) -> list[int]:
        """The pixel column of frame ``t`` (default: the current one) on each panel of the curves."""
        t = self.frame if t is None else t
        return [int(round(to_column(t / self.track.fps))) for to_column, _ in self._panels]

    def _show(self, t):
        chosen = self.keypoints
        colours = keypoint_colours(self.track.num_kp)[chosen]
        jacobian = None if self.track.jacobian is None else self.track.jacobian[t, chosen]
        self.video.show(render_keypoints_image(self.frames[t], self.track.value[t, chosen], jacobian, colours=colours,
                                               size=self.video.size))
        self.video.children[0].value = f"<b>frame {t} ({t / self.track.fps:.2f} s)</b>"
        picture = self._curves.copy()
        for column, (_, (top, bottom)) in zip(self.cursor_columns(t), self._panels):
            picture[top:bottom, max(column - 1, 0) : column + 1] = CURSOR_COLOUR
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="png")
        self.curves.value = buffer.getvalue()


def _rasterized(figure):
    """The figure as ``(H, W, 3)`` uint8, and for each panel a function seconds -> pixel column and its rows."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    picture = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    height = picture.shape[0]
    panels = []
    for ax in figure.axes:
        box = ax.get_window_extent()  # display pixels, origin at the bottom left
        rows = (int(round(height - box.y1)), int(round(height - box.y0)))
        panels.append((lambda seconds, ax=ax: ax.transData.transform((seconds, 0.0))[0], rows))
    return picture, panels
