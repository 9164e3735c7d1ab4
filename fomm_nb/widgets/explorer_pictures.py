"""The keypoint explorer's pictures: the keypoints to drag, each stage of the model, and their legends.

One :class:`ExplorerPictures` holds the explorer's pictures (two
:class:`~fomm_nb.widgets.panels.LivePanel`\\ s and a
:class:`~fomm_nb.widgets.board.PictureBoard`) and draws into them with
numpy and Pillow (no matplotlib): the driving frame
with numbered keypoints (and, optionally, Jacobian ellipses), the gaussians'
difference D − S and the dense motion over a faded source (so a panel at rest
still shows where things are, on the same fixed scale as after an edit), the
masks, the occlusion map, the warped source, the source warped by each
motion and the prediction.

Example:
    >>> pictures = ExplorerPictures(engine, ["0", "1"], display_size=320, panel_size=128)  # doctest: +SKIP
    >>> pictures.draw_keypoints(0, frame, kp, selected=None, jacobians=True)  # doctest: +SKIP
"""

import numpy as np

from ..animate import AnimationEngine
from ..plotting import (
    BACKGROUND_COLOUR,
    faded,
    flow_image,
    heatmap_image,
    keypoint_colours,
    mask_image,
    render_keypoints_image,
    tile,
)
from ..types import Keypoints
from .common import image_of
from .board import Panel, PictureBoard
from .panels import LivePanel, colour_bar, swatches, wheel_legend

__all__ = ["ExplorerPictures", "FLOW_SCALE", "HEATMAP_LIMIT"]

FLOW_SCALE = 0.25  # a displacement this long ([-1, 1] units) is fully saturated in the flow panel
HEATMAP_LIMIT = 1.0  # gaussians peak at 1: D - S at +-1 is full red or blue, the same scale at rest and after edits
KEYPOINTS_QUALITY = 85  # the largest picture, sent at every move: 26 % fewer bytes than at 92, numbers still crisp


class ExplorerPictures:
    """The explorer's pictures and how to draw them.

    ``panels`` holds the two large pictures (name -> :class:`~fomm_nb.widgets.panels.LivePanel`:
    ``"keypoints"``, the one dragged, and ``"prediction"``); ``board`` (a
    :class:`~fomm_nb.widgets.board.PictureBoard`) the motion panels
    (the source, the gaussians' difference, the masks, the dense motion, the
    occlusion map, the warped source and the sparse motions), which change
    together and go to the browser in one message.

    Args:
        engine: the explorer's :class:`~fomm_nb.animate.AnimationEngine`, its source set.
        labels: each keypoint's name as the explorer's menu lists it (``"0"``, ``"1"``, ...).
        display_size: side of the keypoint picture; panel_size: side of the small panels.
    """

    def __init__(self, engine: AnimationEngine, labels: list[str], display_size: int, panel_size: int) -> None:
        self.engine = engine
        self.labels = labels
        self.colours = keypoint_colours(len(labels))
        self.display_size = display_size
        self.panels = {
            "keypoints": LivePanel("driving keypoints", display_size, css_class="fomm-explorer-main",
                                   quality=KEYPOINTS_QUALITY),
            "prediction": LivePanel("prediction", 2 * panel_size, css_class="fomm-explorer-prediction"),
        }
        self.board = PictureBoard(self._motion_panels(panel_size), columns=3)
        self.board.show({"source": image_of(engine.encoding.image)})
        self._frame = None  # (frame index, the frame at display size, uint8)
        self._backdrops = {}  # (h, w) -> the source, faded, at that size

    def _motion_panels(self, size):
        colours, labels, backdrop = self.colours, self.labels, "over the faded source"
        return [
            Panel("source", "source", size),
            Panel("heatmaps", "gaussians D − S", size, smooth=False, legend=colour_bar(
                "RdBu_r", "−1", "+1", f"blue: source S, red: driving D; {backdrop} where D = S")),
            Panel("masks", "masks", size, smooth=False, legend=swatches(
                [BACKGROUND_COLOUR, *colours], ["bg", *labels], "which motion each pixel follows")),
            Panel("flow", "dense motion", size, legend=wheel_legend(
                f"hue: direction; strength: length (full at {FLOW_SCALE}); {backdrop}: still")),
            Panel("occlusion", "occlusion map", size, legend=colour_bar("gray", "0: hidden", "1: visible")),
            Panel("deformed", "warped source", size, legend=swatches([], [], "the source moved by the dense motion")),
            Panel("sparse", "source warped by each motion (background first)", 2 * size, legend=swatches(
                [BACKGROUND_COLOUR, *colours], ["bg", *labels], "frame colour: its keypoint"), aside=True),
        ]

    def sent_seconds(self) -> dict[str, float]:
        """CPU seconds spent so far encoding pictures and handing them to the widgets: ``{"encode", "send"}``."""
        encoders = [panel.encoder for panel in self.panels.values()] + list(self.board.encoders.values())
        return {key: sum(encoder.seconds[key] for encoder in encoders) for key in ("encode", "send")}

    def keypoint_picture(self, index: int, frame: np.ndarray, kp: Keypoints, selected: int | None,
                         jacobians: bool) -> np.ndarray:
        """Driving frame ``index`` (``(H, W, 3)``) at display size with keypoints ``kp`` (batch 1), numbered: uint8."""
        if self._frame is None or self._frame[0] != index:  # the enlarged frame is kept: drags redraw only the dots
            self._frame = (index, render_keypoints_image(frame, np.zeros((0, 2)), size=self.display_size))
        jacobian = kp["jacobian"][0] if "jacobian" in kp and jacobians else None
        return render_keypoints_image(self._frame[1], kp["value"][0], jacobian, selected=selected, labels=True)

    def motion_pictures(self, out: dict, heatmaps: np.ndarray) -> dict[str, np.ndarray]:
        """The dense motion's panels ``{name: (h, w, 3)}`` of outputs ``out`` (batch 1) and D − S ``heatmaps`` ``(h, w)``."""
        size = tuple(out["deformation"].shape[1:3])
        if size not in self._backdrops:
            self._backdrops[size] = faded(image_of(self.engine.encoding.image), size)
        backdrop = self._backdrops[size]
        warped = out["sparse_deformed"][0].permute(0, 2, 3, 1).cpu().numpy()  # (K + 1, h, w, C)
        frames = np.concatenate([[BACKGROUND_COLOUR], self.colours])
        pictures = {
            "heatmaps": heatmap_image(heatmaps, limit=HEATMAP_LIMIT, signed=True, background=backdrop),
            "masks": mask_image(out["mask"][0], self.colours),
            "flow": flow_image(out["deformation"][0].cpu().numpy(), FLOW_SCALE, background=backdrop),
            "deformed": image_of(out["deformed"]),
            "sparse": tile(np.clip(warped, 0, 1), border=max(1, warped.shape[1] // 16), border_colours=frames),
        }
        if "occlusion_map" in out:
            pictures["occlusion"] = out["occlusion_map"][0, 0].cpu().numpy()
        return pictures

    def show(self, pictures: dict[str, np.ndarray]) -> None:
        """Send the motion pictures to the board, in one message (unchanged ones are not sent again)."""
        self.board.show(pictures)
