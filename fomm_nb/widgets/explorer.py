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
generator is cheap too (under :data:`SYNC_BUDGET`, measured on the first
update) the prediction follows the mouse, otherwise it is computed in a
worker thread once the mouse rests for ``prediction_delay`` seconds. Mouse
moves are throttled in the browser to the measured update time.

Example:
    >>> explorer = KeypointExplorer(model, source, frames)  # doctest: +SKIP
    >>> explorer  # shows the app in a notebook  # doctest: +SKIP
    >>> explorer.select(3); explorer.move_keypoint(3, (0.2, -0.1))  # doctest: +SKIP
"""

import functools

import ipywidgets as widgets
import numpy as np
import traitlets
from ipyevents import Event

from ..errors import InputError
from ..model import FirstOrderModel
from ..motion import MotionOptions
from ..types import Keypoints
from ..plotting import (
    BACKGROUND_COLOUR,
    flow_image,
    heatmap_image,
    keypoint_colours,
    mask_image,
    render_keypoints_image,
    tile,
)
from .common import (
    INTERACTIVE_THREADS,
    SYNC_BUDGET,
    Debouncer,
    DrivingFrames,
    ImagePanel,
    MessageArea,
    encode_image,
    image_of,
    prepare_engine,
    set_continuous,
    timed,
)
from .keypoint_editor import KeypointEditor

__all__ = ["KeypointExplorer"]

WHEEL_DEGREES = 5.0  # rotation per wheel notch
WHEEL_SCALE = 1.1  # scale factor per wheel notch (with Shift)
FLOW_SCALE = 0.25  # a displacement this long ([-1, 1] units) is fully saturated in the flow panel


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
            in a worker thread after a pause, None decides by the time the
            last prediction took (under :data:`~fomm_nb.widgets.common.SYNC_BUDGET`: live).
        prediction_delay: the pause, in seconds, before a background prediction
            (at least twice the interval of the throttled mouse moves).
        num_threads: torch threads for the updates (None: torch's setting).

    Traits: ``selected`` (keypoint index, -1 for none) and ``frame``.
    Attributes after each update: ``kp_norm`` (the keypoints given to the
    generator) and ``intermediates`` (its outputs, batch 1).
    """

    selected = traitlets.Int(-1)
    frame = traitlets.Int(0)

    def __init__(self, model: FirstOrderModel, source: np.ndarray, driving_frames: np.ndarray,
                 options: MotionOptions | None = None, display_size: int = 320, panel_size: int = 128,
                 sync_prediction: bool | None = None, prediction_delay: float = 0.15,
                 num_threads: int | None = INTERACTIVE_THREADS) -> None:
        self.engine = prepare_engine(model, source, options, num_threads)
        if not self.engine.has_dense_motion:
            raise InputError("the explorer needs a model with a dense motion network (masks, sparse motions)")
        self.driving = DrivingFrames(self.engine, driving_frames)
        self.engine.kp_driving_initial = self.driving.keypoints(0)
        self.editor = KeypointEditor(self.driving.keypoints(0))
        self.display_size = display_size
        self.sync_prediction = sync_prediction
        self.prediction_delay = prediction_delay
        self._prediction_seconds = 0.0  # the last full prediction's time
        self.kp_norm = None
        self.intermediates = {}
        self.messages = MessageArea()
        self._debouncer = Debouncer(prediction_delay)
        self._grab = None  # (keypoint, offset in display pixels) while dragging
        self._syncing_sliders = False
        self._build(panel_size)
        super().__init__([self._top, self._bottom])
        self.add_class("fomm-explorer")
        self.messages.guard(self.refresh)()

    # ------------------------------------------------------------ layout

    def _build(self, panel_size):
        num_kp = self.editor.num_kp
        self.main_image = widgets.Image(format="jpeg", width=self.display_size, height=self.display_size)
        self.main_image.add_class("fomm-explorer-main")
        self.mouse_events = (
            Event(source=self.main_image, watched_events=["mousedown", "mouseup", "mouseleave", "wheel"],
                  prevent_default_action=True, xy_coordinate_system="data"),
            Event(source=self.main_image, watched_events=["mousemove"], xy_coordinate_system="data",
                  throttle_or_debounce="throttle", wait=40),
        )
        for event in self.mouse_events:
            event.on_dom_event(self.messages.guard(self.handle_event))

        self.frame_slider = widgets.IntSlider(0, 0, len(self.driving) - 1, description="frame")
        widgets.link((self.frame_slider, "value"), (self, "frame"))
        self.keypoint_menu = widgets.Dropdown(options=[("none", -1)] + [(str(k), k) for k in range(num_kp)],
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
        self.undo_button = widgets.Button(description="Undo", icon="undo", tooltip="undo the last edit")
        self.reset_button = widgets.Button(description="Reset", icon="refresh",
                                           tooltip="back to the keypoints detected in this frame")
        self.undo_button.on_click(self.messages.guard(lambda _: self.undo()))
        self.reset_button.on_click(self.messages.guard(lambda _: self.reset()))
        self.status = widgets.HTML()
        help_text = widgets.HTML(
            "<small>Press near a keypoint and drag it. Wheel: rotate its Jacobian; Shift + wheel: scale it.</small>")
        controls = widgets.VBox([self.frame_slider, self.keypoint_menu, self.rotation_slider, self.scale_slider,
                                 self.shear_slider, widgets.HBox([self.undo_button, self.reset_button]),
                                 self.status, help_text, self.messages])

        self.panels = {
            "source": ImagePanel("source", panel_size),
            "heatmaps": ImagePanel("gaussians D − S", panel_size),
            "masks": ImagePanel("masks", panel_size, smooth=False),
            "flow": ImagePanel("dense motion", panel_size),
            "occlusion": ImagePanel("occlusion map", panel_size),
            "deformed": ImagePanel("warped source", panel_size),
            "sparse": ImagePanel("source warped by each motion (background first)", 2 * panel_size),
            "prediction": ImagePanel("prediction", 2 * panel_size, css_class="fomm-explorer-prediction"),
        }
        self.prediction_image = self.panels["prediction"].image
        self.panels["source"].show(image_of(self.engine.encoding.image))
        small = [self.panels[name] for name in ("source", "heatmaps", "masks", "flow", "occlusion", "deformed")]
        self._top = widgets.HBox([widgets.VBox([widgets.HTML("<b>driving keypoints</b>"), self.main_image]),
                                  self.panels["prediction"], controls])
        self._bottom = widgets.HBox([widgets.GridBox(small, layout=widgets.Layout(
            grid_template_columns=f"repeat(3, {panel_size + 8}px)")), self.panels["sparse"]])
        self._colours = keypoint_colours(num_kp)

    # ------------------------------------------------------------ the model

    def _transferred(self) -> Keypoints:
        """The edited driving keypoints as given to the generator (the engine's motion transfer)."""
        return self.engine.transfer(self.editor.kp)

    def _motion(self, kp_norm: Keypoints) -> dict:
        """The cheap part: dense motion and the source warped by it (no generator)."""
        motion = self.engine.dense_motion(kp_norm)
        return {**motion, "deformed": self.engine.warp_source(motion.deformation)}

    def _predict(self, kp_norm: Keypoints) -> dict:
        """Everything, prediction included."""
        return self.engine.animate_keypoints(kp_norm)

    # ------------------------------------------------------------ updates

    def refresh(self) -> None:
        """Redraw the keypoints and recompute every panel (the prediction now, or soon in the background)."""
        self._draw_keypoints()
        kp_norm = self._transferred()
        self.kp_norm = kp_norm
        if self.live_prediction:
            out, seconds = timed(self._predict, kp_norm)
            self._show_motion(out, kp_norm)
            self._show_prediction(out, seconds)
        else:
            out, seconds = timed(self._motion, kp_norm)
            self._show_motion(out, kp_norm)
            self.status.value = f"motion {1000 * seconds:.0f} ms; prediction when the mouse rests…"
            self._debouncer.submit(self.messages.guard(functools.partial(self._predict_in_background, kp_norm)))
        self._pace(seconds)

    @property
    def live_prediction(self) -> bool:
        """Whether the prediction is computed at every update (forced, or the last one took under SYNC_BUDGET)."""
        return self.sync_prediction if self.sync_prediction is not None else self._prediction_seconds < SYNC_BUDGET

    def _pace(self, seconds):
        """Throttle mouse moves to the time an update takes; slow models update the frame on release."""
        moves = self.mouse_events[1]
        wait = int(np.clip(1500 * seconds, 30, 500))
        if abs(wait - moves.wait) > 0.25 * moves.wait:
            moves.wait = wait
        # a background prediction waits for a pause longer than the gap between two throttled moves
        self._debouncer.delay = max(self.prediction_delay, 2 * moves.wait / 1000)
        set_continuous([self.frame_slider], self.live_prediction)

    def _predict_in_background(self, kp_norm):
        out, seconds = timed(self._predict, kp_norm)
        self._show_prediction(out, seconds)

    def wait_for_prediction(self) -> None:
        """Block until a background prediction has been shown (for scripts and tests)."""
        self._debouncer.flush()

    def _draw_keypoints(self):
        kp = self.editor.kp
        jacobian = kp["jacobian"][0] if "jacobian" in kp else None
        picture = render_keypoints_image(self.driving.frames[self.frame], kp["value"][0], jacobian,
                                         selected=self.selected if self.selected >= 0 else None, size=self.display_size)
        self.main_image.value = encode_image(picture)

    def _show_motion(self, out, kp_norm):
        self.intermediates = {**self.intermediates, **out}
        heatmaps = self.engine.heatmap_difference(kp_norm)[0].sum(0).cpu().numpy()
        self.panels["heatmaps"].show(heatmap_image(heatmaps))
        self.panels["masks"].show(mask_image(out["mask"][0], self._colours))
        self.panels["flow"].show(flow_image(out["deformation"][0].cpu().numpy(), FLOW_SCALE))
        if "occlusion_map" in out:
            self.panels["occlusion"].show(out["occlusion_map"][0, 0].cpu().numpy())
        self.panels["deformed"].show(image_of(out["deformed"]))
        warped = out["sparse_deformed"][0].permute(0, 2, 3, 1).cpu().numpy()  # (K + 1, h, w, C)
        border = max(1, warped.shape[1] // 16)
        border_colours = np.concatenate([[BACKGROUND_COLOUR], self._colours])
        self.panels["sparse"].show(tile(np.clip(warped, 0, 1), border=border, border_colours=border_colours))

    def _show_prediction(self, out, seconds):
        self._prediction_seconds = seconds
        self.intermediates = {**self.intermediates, "prediction": out["prediction"]}
        self.panels["prediction"].show(image_of(out["prediction"]))
        mode = "live" if self.live_prediction else "after a pause"
        self.status.value = f"prediction {1000 * seconds:.0f} ms ({mode})"

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
        self.editor.end_gesture()
        self._sync_sliders()
        self._draw_keypoints()

    @traitlets.observe("frame")
    def _on_frame(self, change):
        self.messages.guard(self.snap)(change["new"])

    def move_keypoint(self, k: int, xy: tuple[float, float]) -> None:
        """Move keypoint ``k`` to ``xy`` = ``(x, y)`` in [-1, 1] and update."""
        self.editor.move(k, xy)
        self.refresh()

    def edit_jacobian(
        self, k: int, rotation: float | None = None, scale: float | None = None, shear: float | None = None
    ) -> None:
        """Set keypoint ``k``'s Jacobian edit (degrees, factor, shear; None keeps a value) and update."""
        self.editor.set_jacobian_edit(k, rotation, scale, shear)
        if k == self.selected:
            self._sync_sliders()
        self.refresh()

    def undo(self) -> None:
        """Undo the last edit (a drag, a Jacobian change, a snap)."""
        if self.editor.undo():
            self._sync_sliders()
            self.refresh()

    def snap(self, t: int | None = None) -> None:
        """Replace the keypoints by those detected in frame ``t`` (default: the current frame); undoable."""
        t = self.frame if t is None else t
        if t != self.frame:
            self.frame = t  # its observer snaps
            return
        self.editor.load(self.driving.keypoints(t))
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
            self.move_keypoint(k, self._to_value(*(np.array([event["dataX"], event["dataY"]]) + offset)))
        elif kind in ("mouseup", "mouseleave"):
            self._grab = None
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
