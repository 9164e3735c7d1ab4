"""Live: your camera drives the picture, in the notebook, in Voila and in Colab.

:class:`LiveApp` puts the camera widget (:mod:`~fomm_nb.widgets.camera`)
beside its controls and animates each camera frame in the kernel
(:class:`~fomm_nb.widgets.live_session.LiveSession`): the camera frame's
keypoints, smoothed by a causal filter of :mod:`fomm_nb.tracks`, move the
source picture relative to a neutral pose that a button captures.

Controls: the picture (gallery or upload), the model, relative or absolute
motion, the movement scale, the smoothing, the keypoints over the preview,
**set neutral pose**, **record** (the camera frame beside the animated one,
written to mp4 and offered for download), and **no camera? play a clip**,
which plays the bundled driving clip in the page through the same path as the
camera, so the app works without a camera too.

Example:
    >>> app = LiveApp()  # doctest: +SKIP
    >>> app  # the last line of a cell shows it  # doctest: +SKIP
"""

import base64
import re
import tempfile
from pathlib import Path

import ipywidgets as widgets
import numpy as np

from ..media import fit_frame, read_image, read_video
from ..motion import MotionOptions
from ..registry import MODELS, SAMPLE_DRIVING
from .camera import CameraWidget
from .common import MessageArea
from .gallery import as_path, source_gallery
from .live_session import LiveSession

__all__ = ["LiveApp", "SMOOTHING_CHOICES"]

SMOOTHING_CHOICES = [("One-Euro", "one-euro"), ("Kalman", "kalman"), ("none", "none")]


def _default_get_model(name):
    from ..hub import get_model

    return get_model(name, progress=True)


def _download_link(path: Path, label: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<a class="fomm-live-download" download="{path.name}" href="data:video/mp4;base64,{data}">{label}</a>'


class LiveApp(widgets.VBox):
    """The camera (or a clip) animates a picture live.

    Args:
        get_model: ``name -> model``; default :func:`fomm_nb.hub.get_model`.
        models: ``[(label, name)]`` for the model menu; default every registered model, the bundled one first.
        clip: the "no camera?" clip (mp4); default the bundled driving sample.
        work_dir: where uploads and recordings go (default: a new temporary folder).

    ``session`` is the :class:`~fomm_nb.widgets.live_session.LiveSession` that animates the frames.
    """

    def __init__(self, get_model=None, models=None, clip: str | Path = SAMPLE_DRIVING, work_dir=None) -> None:
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fomm-nb-live-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._get_model = get_model or _default_get_model
        self._models = {}
        self.clip_path = Path(clip)
        self.messages = MessageArea()
        self.recordings = 0

        self.source_menu = widgets.Dropdown(options=source_gallery(), description="picture")
        self.source_upload = widgets.FileUpload(accept="image/*", description="upload picture")
        self.model_menu = widgets.Dropdown(options=models or [(f"{name}: {entry.description}", name)
                                                              for name, entry in MODELS.items()], description="model")
        self.motion_toggle = widgets.ToggleButtons(options=[("relative", 1.0), ("absolute", 0.0)], description="motion")
        self.scale_slider = widgets.FloatSlider(1.0, min=0.0, max=2.0, step=0.1, description="movement scale",
                                                style={"description_width": "initial"})
        self.smoothing_menu = widgets.Dropdown(options=SMOOTHING_CHOICES, description="smoothing")
        self.keypoints_box = widgets.Checkbox(True, description="keypoints over the camera")
        self.neutral_button = widgets.Button(description="set neutral pose", icon="crosshairs")
        self.record_button = widgets.ToggleButton(False, description="record", icon="circle")
        self.clip_button = widgets.Button(description="no camera? play a clip", icon="film",
                                          layout=widgets.Layout(width="auto"))
        self.camera_button = widgets.Button(description="use the camera", icon="video-camera")
        self.download = widgets.HTML()

        model = self.model()
        self.camera = CameraWidget(size=model.image_size, clip=self.clip_path.read_bytes())
        self.session = LiveSession(model, self._source(model), send=self.camera.answer, options=self._options())
        self.camera.on_frame(lambda header, buffers: self.session.receive(header, buffers))

        guard = self.messages.guard
        self.source_upload.observe(guard(self._take_upload), names="value")
        self.source_menu.observe(guard(lambda _: self.session.set_source(self._source(self.session.model))), names="value")
        self.model_menu.observe(guard(self._change_model), names="value")
        for control in (self.motion_toggle, self.scale_slider):
            control.observe(guard(lambda _: setattr(self.session.engine, "options", self._options())), names="value")
        self.smoothing_menu.observe(guard(lambda change: self.session.set_smoothing(change["new"])), names="value")
        widgets.link((self.keypoints_box, "value"), (self.camera, "show_keypoints"))
        self.neutral_button.on_click(guard(lambda _: self.session.set_neutral()))
        self.record_button.observe(guard(self._record), names="value")
        self.clip_button.on_click(lambda _: self.camera.play_clip())
        self.camera_button.on_click(lambda _: self.camera.use_camera())

        controls = widgets.VBox([
            widgets.HBox([self.source_menu, self.source_upload]), self.model_menu, self.motion_toggle,
            self.scale_slider, self.smoothing_menu, self.keypoints_box,
            widgets.HBox([self.neutral_button, self.record_button]),
            widgets.HBox([self.camera_button, self.clip_button]),
        ])
        super().__init__([self.camera, controls, self.messages, self.download])
        self.add_class("fomm-live")

    # ------------------------------------------------------------ choices

    def model(self):
        """The chosen model, loaded (and downloaded) once."""
        name = self.model_menu.value
        if name not in self._models:
            self._models[name] = self._get_model(name)
        return self._models[name]

    def _source(self, model) -> np.ndarray:
        return fit_frame(read_image(as_path(self.source_menu.value)), model.image_size)

    def _options(self) -> MotionOptions:
        return MotionOptions(relative=self.motion_toggle.value, movement_scale=self.scale_slider.value)

    def _take_upload(self, change=None):
        if not self.source_upload.value:
            return
        item = self.source_upload.value[-1]
        path = self.work_dir / "uploads" / (re.sub(r"[^\w.-]", "_", Path(item["name"]).name) or "upload")
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes(item["content"]))
        self.source_menu.options = [*self.source_menu.options, (f"uploaded: {item['name']}", path)]
        self.source_menu.value = path

    def _change_model(self, change):
        try:
            model = self.model()
        except Exception:
            self.model_menu.value = change["old"]  # the running model stays
            raise
        if model is self.session.model:  # back to the running model after a failed load
            return
        self.record_button.value = False
        self.session = LiveSession(model, self._source(model), send=self.camera.answer, options=self._options(),
                                   smoothing=self.smoothing_menu.value)
        self.camera.size = model.image_size
        self.messages.clear()

    # ------------------------------------------------------------ recording and the clip

    def _record(self, change):
        if change["new"]:
            self.recordings += 1
            self.download.value = "recording…"
            self.session.start_recording(self.work_dir / f"live-{self.recordings}.mp4")
            return
        path = self.session.stop_recording()
        self.download.value = (_download_link(path, f"download the recording ({path.name})") if path
                               else "nothing recorded: no frame came while recording")

    def run_clip(self, max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """The "no camera?" clip through the session without a page: ``(driving, animated, fps)``, each ``(T, H, W, 3)``."""
        frames, fps = read_video(self.clip_path, max_frames=max_frames)
        driving = np.stack([fit_frame(frame, self.session.model.image_size) for frame in frames])
        return driving, self.session.run_clip(driving, fps), fps
