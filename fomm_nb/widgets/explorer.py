"""The keypoint explorer: drag a keypoint, turn its Jacobian, watch every stage of the model answer.

The driving frame is drawn with its keypoints and Jacobian glyphs on an
:class:`ipywidgets.Image`; an :class:`ipyevents.Event` reports the mouse in
image pixels. Press near a keypoint to select it and drag it; the wheel
turns its Jacobian (with Shift, scales it); sliders rotate, scale and shear
it. The edited driving keypoints go through the motion transfer (relative by
default) to the dense motion network and the generator, and the panels show
the gaussian differences, the source warped by each sparse motion, the masks
that blend them, the dense motion, the occlusion map, the warped source and
the prediction (:meth:`~fomm_nb.animate.AnimationEngine.animate_keypoints`:
the source stays encoded, only the keypoints change).

Responsiveness: the dense motion network is cheap (a few ms at 64x64, ~0.2 s
at 256x256 on a CPU core) and runs at every mouse move; when the whole
generator is cheap too (under :data:`SYNC_BUDGET` of CPU time, measured at
each prediction: the clock's time grows with a shared server's load, the CPU
time does not) the prediction follows the mouse, otherwise it is computed once the
mouse rests for ``prediction_delay`` seconds. Mouse moves are drawn by one
worker thread that skips the moves a busy server could not keep up with
(:class:`~fomm_nb.widgets.updates.LatestOnly`), and throttled in the browser:
about 20 a second while the updates keep up (under ``fomm-nb serve``, the
student's share of the server), fewer (down to 5.5 a second, or two steps
below the share) when they fall behind or moves wait unread in front of the kernel
(:class:`~fomm_nb.widgets.updates.MovePacer`,
:class:`~fomm_nb.widgets.updates.ArrivalLag`), so that a loaded server is
sent fewer moves rather than skipping them. Pictures go
to the browser at the model's resolution, and only those that changed
(:class:`~fomm_nb.widgets.panels.LivePanel`), the seven motion panels in one
message (:class:`~fomm_nb.widgets.board.PictureBoard`); ``timings`` says where the
CPU time of the last update went.

Example:
    >>> explorer = KeypointExplorer(model, source, frames)  # doctest: +SKIP
    >>> explorer  # shows the app in a notebook  # doctest: +SKIP
    >>> explorer.select(3); explorer.move_keypoint(3, (0.2, -0.1))  # doctest: +SKIP
"""

import functools
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

import ipywidgets as widgets
import numpy as np
import traitlets
from ipyevents import Event

from ..errors import InputError
from ..model import FirstOrderModel
from ..motion import MotionOptions
from ..types import Keypoints
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
from .explorer_pictures import ExplorerPictures
from .keyframes import KeyframeRecorder
from .keypoint_editor import KeypointEditor
from .panels import PAGE_STYLE
from .updates import ArrivalLag, LatestOnly, MovePacer, message_sent_at

__all__ = ["KeypointExplorer"]

WHEEL_DEGREES = 5.0  # rotation per wheel notch
WHEEL_SCALE = 1.1  # scale factor per wheel notch (with Shift)
STATUS_INTERVAL = 1.0  # seconds between two status lines during a drag


class KeypointExplorer(widgets.VBox):
    """Interactive keypoints for one source image and one driving clip.

    Args:
        model: a :class:`~fomm_nb.model.FirstOrderModel` (with a dense motion network).
        source: ``(H, W, 3)`` float image at the model's size.
        driving_frames: ``(T, H, W, 3)`` frames at the model's size.
        options: :class:`~fomm_nb.motion.MotionOptions` (default relative transfer;
            the first driving frame is the reference).
        display_size: side of the interactive image in pixels.
        panel_size: side of the small panels.
        sync_prediction: True computes the prediction at every move, False
            after a pause, None decides by the CPU time the last prediction took
            (under :data:`~fomm_nb.widgets.common.SYNC_BUDGET`: live).
        prediction_delay: the pause, in seconds, before a deferred prediction
            (at least twice the interval of the throttled mouse moves).
        num_threads: torch threads for the updates (None: torch's setting).
        coalesce: draw mouse drags in the worker thread, skipping stale moves
            (False: every move is drawn before the next is handled).

    Traits: ``selected`` (keypoint index, -1 for none) and ``frame``.
    ``keyframes`` (a :class:`~fomm_nb.widgets.keyframes.KeyframeRecorder`)
    stores the edited keypoints at the current frame and renders a video
    through them. Attributes after each update: ``kp_norm`` (the keypoints given to the
    generator), ``intermediates`` (its outputs, batch 1) and ``timings``
    (CPU milliseconds of the update by stage: ``keypoints``, ``model``,
    ``pictures``, ``encode``, ``send``, and their ``total``).
    """

    selected = traitlets.Int(-1)
    frame = traitlets.Int(0)

    def __init__(self, model: FirstOrderModel, source: np.ndarray, driving_frames: np.ndarray,
                 options: MotionOptions | None = None, display_size: int = 320, panel_size: int = 128,
                 sync_prediction: bool | None = None, prediction_delay: float = 0.15,
                 num_threads: int | None = INTERACTIVE_THREADS, coalesce: bool = True) -> None:
        self.engine = prepare_engine(model, source, options, num_threads)
        if not self.engine.has_dense_motion:
            raise InputError("the explorer needs a model with a dense motion network (masks, sparse motions)")
        self.driving = DrivingFrames(self.engine, driving_frames)
        self.engine.kp_driving_initial = self.driving.keypoints(0)
        self.editor = KeypointEditor(self.driving.keypoints(0))
        self.keypoint_labels = [str(k) for k in range(self.editor.num_kp)]  # as the menu and the picture number them
        self.display_size = display_size
        self.sync_prediction = sync_prediction
        self.prediction_delay = prediction_delay
        self.coalesce = coalesce
        self._prediction_cpu = 0.0  # the last full prediction's CPU seconds
        self.kp_norm = None
        self.intermediates = {}
        self.timings = {}
        self._cpu = defaultdict(float)
        self._prediction_wait = prediction_delay
        self.messages = MessageArea()
        self.updates = LatestOnly()
        self.move_lag = ArrivalLag()  # how long moves waited unread (the pacer's view of a backlog)
        self._edit_lock = threading.Lock()  # the editor, between the kernel's thread and the worker
        self._draw_lock = threading.RLock()  # one update draws at a time
        self._grab = None  # (keypoint, offset in display pixels) while dragging
        self._told_at = 0.0  # when the status line last changed
        self._syncing_sliders = False
        self._build(panel_size)
        super().__init__([widgets.HTML(PAGE_STYLE), self._top, self.board])
        self.add_class("fomm-explorer")
        self.messages.guard(self.refresh)()

    # ------------------------------------------------------------ layout

    def _build(self, panel_size):
        num_kp = self.editor.num_kp
        self.pictures = ExplorerPictures(self.engine, self.keypoint_labels, self.display_size, panel_size)
        self.panels = self.pictures.panels
        self.main_image = self.panels["keypoints"].image
        self.prediction_image = self.panels["prediction"].image
        self.mouse_events = (
            Event(source=self.main_image, watched_events=["mousedown", "mouseup", "mouseleave", "wheel"],
                  prevent_default_action=True, xy_coordinate_system="data"),
            Event(source=self.main_image, watched_events=["mousemove"], xy_coordinate_system="data",
                  throttle_or_debounce="throttle"),
        )
        self.pacer = MovePacer(self.mouse_events[1])  # sets and adapts the moves' throttle
        for event in self.mouse_events:
            event.on_dom_event(self.messages.guard(self.handle_event))

        self.frame_slider = widgets.IntSlider(0, 0, len(self.driving) - 1, description="frame")
        widgets.link((self.frame_slider, "value"), (self, "frame"))
        self.keypoint_menu = widgets.Dropdown(options=[("none", -1)] + list(zip(self.keypoint_labels, range(num_kp))),
                                              value=-1, description="keypoint")
        widgets.link((self.keypoint_menu, "value"), (self, "selected"))
        self.rotation_slider = widgets.FloatSlider(0, min=-180, max=180, step=1, description="rotate (°)")
        self.scale_slider = widgets.FloatLogSlider(1, base=2, min=-2, max=2, step=0.05, description="scale")
        self.shear_slider = widgets.FloatSlider(0, min=-1, max=1, step=0.02, description="shear")
        self._jacobian_sliders = {"rotation": self.rotation_slider, "scale": self.scale_slider,
                                  "shear": self.shear_slider}
        for name, slider in self._jacobian_sliders.items():
            slider.observe(self.messages.guard(functools.partial(self._on_jacobian_slider, name)), names="value")
            slider.disabled = True
        self.jacobian_box = widgets.Checkbox(self.editor.has_jacobian, description="show Jacobians",
                                             disabled=not self.editor.has_jacobian, indent=False)
        self.jacobian_box.observe(self.messages.guard(lambda _: self._draw_keypoints()), names="value")
        self.undo_button = widgets.Button(description="Undo", icon="undo", tooltip="undo the last edit")
        self.reset_button = widgets.Button(description="Reset", icon="refresh",
                                           tooltip="back to the keypoints detected in this frame")
        self.undo_button.on_click(self.messages.guard(lambda _: self.undo()))
        self.reset_button.on_click(self.messages.guard(lambda _: self.reset()))
        self.status = widgets.HTML()
        self.keyframes = KeyframeRecorder(self)
        help_text = widgets.HTML(
            "<small>Press near a numbered keypoint and drag it. Wheel: rotate its Jacobian (the ellipse); "
            "Shift + wheel: scale it.</small>")
        self.controls = widgets.VBox([self.frame_slider, self.keypoint_menu, self.rotation_slider, self.scale_slider,
                                      self.shear_slider, self.jacobian_box,
                                      widgets.HBox([self.undo_button, self.reset_button]),
                                      self.status, help_text, self.keyframes, self.messages])
        self.board = self.pictures.board
        self._top = widgets.HBox([self.panels["keypoints"], self.panels["prediction"], self.controls])

    # ------------------------------------------------------------ the model

    def _transferred(self, kp: Keypoints | None = None) -> Keypoints:
        """The edited driving keypoints as given to the generator (the engine's motion transfer)."""
        return self.engine.transfer(self.editor.kp if kp is None else kp)

    def _motion(self, kp_norm: Keypoints) -> dict:
        """The cheap part: dense motion and the source warped by it (no generator)."""
        motion = self.engine.dense_motion(kp_norm)
        return {**motion, "deformed": self.engine.warp_source(motion.deformation)}

    def _predict(self, kp_norm: Keypoints) -> dict:
        """Everything, prediction included."""
        return self.engine.animate_keypoints(kp_norm)

    # ------------------------------------------------------------ updates

    @contextmanager
    def _stage(self, name):
        """Add the CPU time of the block (this thread's) to ``timings[name]``, in milliseconds."""
        began = time.thread_time()
        try:
            yield
        finally:
            self._cpu[name] += 1000 * (time.thread_time() - began)

    def refresh(self) -> None:
        """Redraw the keypoints and recompute every panel (the prediction now, or once the mouse rests)."""
        with self._draw_lock, self.pacer.update():
            self._cpu = defaultdict(float)
            sent = self.pictures.sent_seconds()
            began = time.thread_time()
            with self._edit_lock:
                kp = self.editor.kp
            self._draw_keypoints(kp)
            kp_norm = self._transferred(kp)
            self.kp_norm = kp_norm
            if self.live_prediction:
                with self._stage("model"):
                    out, cost = timed(self._predict, kp_norm)
                self._show_motion(out, kp_norm)
                self._show_prediction(out, cost)
            else:
                with self._stage("model"):
                    out, cost = timed(self._motion, kp_norm)
                self._show_motion(out, kp_norm)
                self._tell(f"motion {1000 * cost.wall:.0f} ms; prediction when the mouse rests…")
                self.updates.submit(self.messages.guard(functools.partial(self._predict_later, kp_norm)),
                                    delay=self._prediction_wait)
            self._pace()
            self._record_timings(sent, began)

    def _record_timings(self, sent, began):
        after = self.pictures.sent_seconds()
        for key in ("encode", "send"):
            self._cpu[key] = 1000 * (after[key] - sent[key])
        self.timings = {**self._cpu, "total": 1000 * (time.thread_time() - began)}

    @property
    def live_prediction(self) -> bool:
        """Whether the prediction is computed at every update (forced, or the last one cost under SYNC_BUDGET of CPU)."""
        return self.sync_prediction if self.sync_prediction is not None else self._prediction_cpu < SYNC_BUDGET

    def _pace(self):
        """A deferred prediction waits for a pause in the moves; slow models update the frame on release."""
        # the pause: longer than the gap between two throttled moves (which self.pacer adapts to the load)
        self._prediction_wait = max(self.prediction_delay, 2 * self.mouse_events[1].wait / 1000)
        set_continuous([self.frame_slider], self.live_prediction)

    def _predict_later(self, kp_norm):
        with self._draw_lock:
            out, cost = timed(self._predict, kp_norm)
            self._show_prediction(out, cost)

    def wait_for_prediction(self) -> None:
        """Block until the pending updates (a deferred prediction included) are shown (for scripts and tests)."""
        self.updates.wait()

    def _draw_keypoints(self, kp: Keypoints | None = None):
        """The driving frame at display size with the keypoints, their numbers and (optionally) Jacobians."""
        with self._draw_lock:
            if kp is None:
                with self._edit_lock:
                    kp = self.editor.kp
            with self._stage("keypoints"):
                picture = self.pictures.keypoint_picture(self.frame, self.driving.frames[self.frame], kp,
                                                         self.selected if self.selected >= 0 else None,
                                                         self.jacobian_box.value)
            self.panels["keypoints"].show(picture)

    def _show_motion(self, out, kp_norm):
        self.intermediates = {**self.intermediates, **out}
        with self._stage("pictures"):
            heatmaps = self.engine.heatmap_difference(kp_norm)[0].sum(0).cpu().numpy()  # (h, w): D - S, all keypoints
            pictures = self.pictures.motion_pictures(out, heatmaps)
        self.pictures.show(pictures)

    def _show_prediction(self, out, cost):
        self._prediction_cpu = cost.cpu
        self.intermediates = {**self.intermediates, "prediction": out["prediction"]}
        self.panels["prediction"].show(image_of(out["prediction"]))
        mode = "follows the mouse" if self.live_prediction else "once the mouse rests"
        self._tell(f"prediction {1000 * cost.wall:.0f} ms ({mode})")

    def _tell(self, text):
        """Show ``text`` on the status line; during a drag at most every STATUS_INTERVAL seconds (a message each)."""
        now = time.monotonic()
        same_kind = text.split()[:1] == self.status.value.split()[:1]  # "motion ..." or "prediction ..."
        if self._grab is None or not same_kind or now - self._told_at >= STATUS_INTERVAL:
            self.status.value, self._told_at = text, now

    # ------------------------------------------------------------ edits

    def select(self, k: int) -> None:
        """Select keypoint ``k`` (-1: none) for the Jacobian sliders and the wheel."""
        self.selected = k

    @traitlets.validate("selected")
    def _valid_selection(self, proposal):
        if not -1 <= proposal["value"] < self.editor.num_kp:
            raise traitlets.TraitError(f"keypoint {proposal['value']} does not exist (0 to {self.editor.num_kp - 1})")
        return proposal["value"]

    @traitlets.observe("selected")
    def _on_selected(self, change):
        with self._edit_lock:
            self.editor.end_gesture()
        self._sync_sliders()
        self._draw_keypoints()

    @traitlets.observe("frame")
    def _on_frame(self, change):
        self.messages.guard(self.snap)(change["new"])

    def move_keypoint(self, k: int, xy: tuple[float, float]) -> None:
        """Move keypoint ``k`` to ``xy`` = ``(x, y)`` in [-1, 1] and update."""
        with self._edit_lock:
            self.editor.move(k, xy)
        self.refresh()

    def edit_jacobian(
        self, k: int, rotation: float | None = None, scale: float | None = None, shear: float | None = None
    ) -> None:
        """Set keypoint ``k``'s Jacobian edit (degrees, factor, shear; None keeps a value) and update."""
        with self._edit_lock:
            self.editor.set_jacobian_edit(k, rotation, scale, shear)
        if k == self.selected:
            self._sync_sliders()
        self.refresh()

    def undo(self) -> None:
        """Undo the last edit (a drag, a Jacobian change, a snap)."""
        with self._edit_lock:
            undone = self.editor.undo()
        if undone:
            self._sync_sliders()
            self.refresh()

    def snap(self, t: int | None = None) -> None:
        """Replace the keypoints by those detected in frame ``t`` (default: the current frame); undoable."""
        t = self.frame if t is None else t
        if t != self.frame:
            self.frame = t  # its observer snaps
            return
        detected = self.driving.keypoints(t)
        with self._edit_lock:
            self.editor.load(detected)
        self._sync_sliders()
        self.refresh()

    def reset(self) -> None:
        """Discard the edits: back to the keypoints detected in the current frame (undoable)."""
        self.snap()

    def _sync_sliders(self):
        """Show the selected keypoint's Jacobian edit on the sliders (without triggering edits)."""
        active = self.selected >= 0 and self.editor.has_jacobian
        rotation, scale, shear = self.editor.edits[self.selected] if active else (0.0, 1.0, 0.0)
        self._syncing_sliders = True
        try:
            for slider, value in zip(self._jacobian_sliders.values(), (rotation, scale, shear)):
                slider.value = float(value)
                slider.disabled = not active
        finally:
            self._syncing_sliders = False

    def _on_jacobian_slider(self, name, change):
        if self._syncing_sliders or self.selected < 0:
            return
        with self._edit_lock:
            self.editor.set_jacobian_edit(self.selected, **{name: change["new"]})
        self.refresh()

    # ------------------------------------------------------------ mouse

    def _to_value(self, x, y):
        return 2 * np.array([x, y], dtype=np.float32) / (self.display_size - 1) - 1

    def _to_display(self, value):
        return (np.asarray(value, dtype=np.float32) + 1) / 2 * (self.display_size - 1)

    def handle_event(self, event: dict) -> None:
        """React to one ipyevents message.

        It holds ``type``; ``dataX``, ``dataY`` (display pixels) for mouse
        buttons and moves; ``deltaY`` (or ``deltaX``) and ``shiftKey`` for the wheel.
        """
        kind = event.get("type")
        if kind == "mousedown":
            press = np.array([event["dataX"], event["dataY"]], dtype=np.float32)
            points = self._to_display(self.editor.value[0].numpy())
            nearest = int(np.argmin(((points - press) ** 2).sum(1)))
            self.selected = nearest
            self._grab = (nearest, points[nearest] - press)
        elif kind == "mousemove" and self._grab is not None:
            k, offset = self._grab
            xy = self._to_value(*(np.array([event["dataX"], event["dataY"]]) + offset))
            self.pacer.moved(self.move_lag.observe(message_sent_at()))
            if not self.coalesce:
                self.move_keypoint(k, xy)
                return
            with self._edit_lock:  # the edit now; the drawing in the worker, which skips moves it fell behind on
                self.editor.move(k, xy)
            self.updates.submit(self.messages.guard(self.refresh))
        elif kind in ("mouseup", "mouseleave"):
            self._grab = None
            with self._edit_lock:
                self.editor.end_gesture()
        elif kind == "wheel" and self.selected >= 0 and self.editor.has_jacobian:
            delta = event.get("deltaY") or event.get("deltaX") or 0
            notches = -float(np.sign(delta))
            rotation, scale, _ = self.editor.edits[self.selected]
            if event.get("shiftKey"):
                self.edit_jacobian(self.selected, scale=float(np.clip(scale * WHEEL_SCALE**notches, 0.25, 4)))
            else:
                turned = (rotation + WHEEL_DEGREES * notches + 180) % 360 - 180
                self.edit_jacobian(self.selected, rotation=float(turned))
