"""Motion sliders: scrub a driving video and change how its motion reaches the source.

``relative`` blends the two transfer modes of :func:`fomm_nb.motion.transfer_motion`
(0: the driving keypoints as they are, absolute; 1: only their movement since
the first frame, relative), ``movement ×`` scales the driving keypoints'
movement since the first frame (in both modes: at ``relative`` = 0 it moves
them around their first-frame places), ``adapt movement scale``
matches the keypoints' spread, and each ``freeze k`` (a box with keypoint
``k``'s coloured dot) holds keypoint ``k`` at its first-frame position. With
ground-truth frames (the procedural faces can render the source identity in
the driving pose) the app also shows the ground truth, the error image (with
its colour scale) and the mean L1.

Example:
    >>> from fomm_nb.data import make_video
    >>> driving = make_video(seed=7, num_frames=32)
    >>> other = make_video(seed=3, num_frames=1).identity
    >>> truth = driving.render_as(other)  # the source identity in the driving poses
    >>> MotionSliders(model, truth[0], driving.frames, ground_truth=truth)  # doctest: +SKIP
"""

import threading

import ipywidgets as widgets
import numpy as np
import torch

from ..errors import InputError
from ..model import FirstOrderModel
from ..motion import MotionOptions
from ..plotting import heatmap_image, keypoint_colours, render_keypoints_image
from .common import (
    INTERACTIVE_THREADS,
    SYNC_BUDGET,
    DrivingFrames,
    MessageArea,
    image_of,
    prepare_engine,
    set_continuous,
    timed,
)
from .board import Panel, PictureBoard
from .panels import PAGE_STYLE, colour_bar, hex_colour
from .updates import LatestOnly

__all__ = ["MotionSliders"]

ERROR_LIMIT = 0.5  # mean absolute error (over channels) shown at full brightness
WIDE_LABEL = {"description_width": "initial"}  # labels in full ("movement ×", not "movemen…")


class MotionSliders(widgets.VBox):
    """Driving video on a slider, motion-transfer controls, and the result (and its error).

    Args:
        model: a :class:`~fomm_nb.model.FirstOrderModel`.
        source: ``(H, W, 3)`` at the model's size.
        driving_frames: ``(T, H, W, 3)`` at the model's size.
        ground_truth: optional ``(T, H, W, 3)``: what the result should be.
        fps: playback rate of the play button.
        panel_size: side of each picture in pixels.
        num_threads: torch threads for the updates (None: torch's setting).
        coalesce: update in one worker thread that skips the control changes it
            fell behind on (a slider dragged, play running on a busy server);
            False: every change is drawn before the next is handled.

    :meth:`wait` blocks until the pictures follow the controls. After each update: ``kp_norm`` (keypoints given to the generator),
    ``result`` ``(H, W, 3)`` and, with ground truth, ``l1`` (mean absolute error). ``board`` (a
    :class:`~fomm_nb.widgets.board.PictureBoard`) shows source, driving, result, truth and error, all of an
    update's changed pictures in one widget message.
    """

    def __init__(self, model: FirstOrderModel, source: np.ndarray, driving_frames: np.ndarray,
                 ground_truth: np.ndarray | None = None, fps: float = 25.0, panel_size: int = 192,
                 num_threads: int | None = INTERACTIVE_THREADS, coalesce: bool = True) -> None:
        self.engine = prepare_engine(model, source, num_threads=num_threads)
        self.coalesce = coalesce
        self.updates = LatestOnly()
        self._drawing = threading.Lock()
        self.driving = DrivingFrames(self.engine, driving_frames)
        self.engine.kp_driving_initial = self.driving.keypoints(0)
        self.ground_truth = None if ground_truth is None else np.asarray(ground_truth, dtype=np.float32)
        if self.ground_truth is not None and self.ground_truth.shape != self.driving.frames.shape:
            raise InputError(f"ground_truth must match the driving frames {self.driving.frames.shape}, "
                             f"got {self.ground_truth.shape}")
        self.kp_norm = None
        self.result = None
        self.l1 = None
        self.messages = MessageArea()
        self._build(fps, panel_size)
        super().__init__([widgets.HTML(PAGE_STYLE), self._controls, self._pictures, self.messages])
        self.add_class("fomm-motion-sliders")
        self._frame_interval = self.play.interval
        self.messages.guard(self.refresh)()

    def _build(self, fps, panel_size):
        last = len(self.driving) - 1
        self.play = widgets.Play(value=0, min=0, max=last, interval=int(1000 / fps), description="play")
        self.frame_slider = widgets.IntSlider(0, 0, last, description="frame", style=WIDE_LABEL)
        widgets.jslink((self.play, "value"), (self.frame_slider, "value"))
        self.blend_slider = widgets.FloatSlider(1.0, min=0, max=1, step=0.05, description="relative", style=WIDE_LABEL,
                                                tooltip="0: absolute keypoints, 1: relative movement")
        self.scale_slider = widgets.FloatSlider(1.0, min=0, max=2, step=0.05, description="movement ×",
                                                style=WIDE_LABEL)
        self.adapt_box = widgets.Checkbox(False, description="adapt movement scale", indent=False)
        self.keypoints_box = widgets.Checkbox(True, description="show keypoints", indent=False)
        colours = keypoint_colours(self.driving.keypoints(0)["value"].shape[1])
        self.freeze_buttons = [  # a coloured dot per box: the keypoint's colour in the pictures
            widgets.Checkbox(False, description=f'<span style="color:{hex_colour(colour)}">●</span> freeze {k}',
                             description_allow_html=True, indent=False, tooltip=f"hold keypoint {k} still",
                             layout=widgets.Layout(width="auto", margin="0 14px 0 0"))
            for k, colour in enumerate(colours)]
        for control in (self.frame_slider, self.blend_slider, self.scale_slider, self.adapt_box,
                        self.keypoints_box, *self.freeze_buttons):
            control.observe(self.messages.guard(lambda _: self._changed()), names="value")
        self._controls = widgets.VBox([
            widgets.HBox([self.play, self.frame_slider]),
            widgets.HBox([self.blend_slider, widgets.HTML("<small>0 absolute · 1 relative</small>")]),
            self.scale_slider,
            widgets.HBox([self.adapt_box, self.keypoints_box]),
            widgets.HBox(self.freeze_buttons, layout=widgets.Layout(flex_flow="row wrap")),
        ])
        panels = [Panel("source", "source", panel_size), Panel("driving", "driving", panel_size),
                  Panel("result", "result", panel_size)]
        if self.ground_truth is not None:
            panels += [Panel("truth", "ground truth", panel_size),
                       Panel("error", "|result − truth|", panel_size, legend=colour_bar(
                           "magma", "0", f"{ERROR_LIMIT}", "mean absolute error of a pixel (over R, G, B)"))]
        self.panel_size = panel_size
        self.board = PictureBoard(panels, columns=len(panels))  # every picture of an update in one message
        self.error_label = widgets.HTML()
        self._pictures = widgets.VBox([self.board, self.error_label])

    @property
    def options(self) -> MotionOptions:
        """The :class:`~fomm_nb.motion.MotionOptions` the controls describe."""
        frozen = [button.value for button in self.freeze_buttons]
        return MotionOptions(relative=self.blend_slider.value, adapt_movement_scale=self.adapt_box.value,
                             movement_scale=self.scale_slider.value, frozen=frozen if any(frozen) else None)

    def _changed(self):
        if self.coalesce:
            self.updates.submit(self.messages.guard(self.refresh))
        else:
            self.refresh()

    def wait(self) -> None:
        """Block until the pictures show the controls' current values (for scripts and tests)."""
        self.updates.wait()

    def refresh(self) -> None:
        """Animate the current frame with the current options and update the pictures."""
        with self._drawing:
            cost = timed(self._update)[1]
        self.messages.clear()  # drawn: an earlier failure's message no longer holds
        # slow models update when a slider is let go, and play no faster than they can draw
        set_continuous([self.frame_slider, self.blend_slider, self.scale_slider], cost.cpu < SYNC_BUDGET)
        interval = max(self._frame_interval, int(1500 * cost.wall))
        if abs(interval - self.play.interval) > 0.25 * self.play.interval:
            self.play.interval = interval

    @torch.inference_mode()
    def _update(self):
        t = self.frame_slider.value
        engine = self.engine
        kp_driving = self.driving.keypoints(t)
        engine.options = self.options
        out = engine.render(kp_driving, return_intermediates=True)
        self.kp_norm = out["kp_norm"]
        self.result = image_of(out["prediction"])
        with_keypoints = {"source": (image_of(engine.encoding.image), engine.kp_source),
                          "driving": (self.driving.frames[t], kp_driving), "result": (self.result, self.kp_norm)}
        pictures = {name: render_keypoints_image(image, kp["value"][0], size=self.panel_size, labels=True)
                    if self.keypoints_box.value else image for name, (image, kp) in with_keypoints.items()}
        if self.ground_truth is not None:
            error = np.abs(self.result - self.ground_truth[t]).mean(-1)
            self.l1 = float(error.mean())
            pictures["truth"] = self.ground_truth[t]
            pictures["error"] = heatmap_image(error, limit=ERROR_LIMIT)
        self.board.show(pictures)
        if self.ground_truth is not None:
            self.error_label.value = f"mean L1 error of frame {t}: <b>{self.l1:.4f}</b>"
