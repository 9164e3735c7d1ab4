"""Try it: choose a picture, a driving video and a model, press Generate, watch and download.

Pictures and videos come from an upload or the galleries of
:mod:`~fomm_nb.widgets.gallery` (a menu, and thumbnails to click). Models:
the bundled demo model (offline) or a published checkpoint, downloaded on
first use with a progress bar; the menu says each model's frame size and
whether it is on this machine, and a photo given to the cartoon model gets a
line that offers ``vox``. The work is :func:`fomm_nb.pipeline.animate_files`;
the result (:class:`~fomm_nb.widgets.result_view.ResultView`) shows source |
driving | result, labelled, with download buttons. Options: how frames
become square (centre crop, pad, stretch, or a crop around the face), the
animated face pasted back into the whole photo (on by default for face
crops), and the best starting frame.

*The page always says what is happening*: the status line reads ``ready``,
``loading model …``, ``queued: n ahead of you`` (Generate takes turns with
every other kernel of the machine, :class:`~fomm_nb.widgets.generate_queue.GenerateQueue`),
``animating…`` and ``ready: N frames in S s``. Every failure (a model that
cannot be downloaded, a picture without a face, a file that is not an image
or has no frames) is one line in the app's message area, and the status and
buttons return to ``ready``.

Example:
    >>> app = TryItApp()  # doctest: +SKIP
    >>> app  # the last line of a cell shows it  # doctest: +SKIP
"""

import functools
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..errors import DownloadError, FaceNotFoundError, FommError
from ..media import open_video, read_image
from ..motion import MotionOptions
from ..pipeline import animate_files
from .common import MessageArea, encode_image, run_inside
from .gallery import Thumbnails, as_path, driving_gallery, first_frame, is_cartoon, source_gallery
from .generate_queue import GenerateQueue
from .result_view import ResultView

if TYPE_CHECKING:
    from ..model import FirstOrderModel

__all__ = ["TryItApp", "SECONDS_PER_PIXEL", "source_gallery", "driving_gallery"]

PREVIEW_SIZE = 96
PHOTO_MODEL = "vox"  # offered when a photo meets the cartoon model
#: A first guess of the time one frame takes, per pixel of the model's square (vox-256 on a 2-core CPU: 2.4 fps);
#: after a Generate the app says what it measured instead.
SECONDS_PER_PIXEL = 1 / 2.4 / 256**2
STYLE = """<style>
.fomm-tryit .fomm-messages pre {white-space: pre-wrap; word-break: break-word; color: #b00020}
.fomm-tryit video.fomm-tryit-result {image-rendering: pixelated}
.fomm-tryit .fomm-thumbnail {border: 1px solid #ccc; cursor: pointer}
</style>"""


def _model_choices():
    from ..hub import model_label
    from ..registry import MODELS

    return [(model_label(name), name) for name in MODELS]


def _default_get_model(name):
    from ..hub import get_model

    return get_model(name, progress=True)


def _image_size(name, model=None):
    if model is not None:
        return model.image_size
    from ..hub import model_image_size
    from ..registry import MODELS

    return model_image_size(name) if name in MODELS else None


class TryItApp(widgets.VBox):
    """Animate a picture by a video, in a notebook.

    Args:
        get_model: ``name -> model``; default :func:`fomm_nb.hub.get_model`
            (which downloads published checkpoints once).
        models: ``[(label, name)]`` for the model menu; default every registered model.
        work_dir: where uploads and results go (default: a new temporary folder).
            Rendered gallery items go to :data:`~fomm_nb.widgets.gallery.GALLERY_DIR`.
        queue: the :class:`~fomm_nb.widgets.generate_queue.GenerateQueue` Generate waits in (default: the machine's).

    After :meth:`generate`: ``result`` is the :class:`~fomm_nb.pipeline.AnimationResult`;
    ``state`` is ``"ready"`` between runs.
    """

    def __init__(self, get_model=None, models=None, work_dir=None, queue=None) -> None:
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fomm-nb-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._get_model = get_model or _default_get_model
        self.queue = queue or GenerateQueue()
        self._models, self._seconds_per_frame = {}, {}
        self.result, self.state = None, "ready"
        self.messages = MessageArea()
        self.download_log = widgets.Output()  # the downloader's progress bar appears here

        wide = widgets.Layout(width="460px")
        self.source_menu = widgets.Dropdown(options=source_gallery(), description="picture", layout=wide)
        self.source_upload = widgets.FileUpload(accept="image/*", description="upload picture")
        self.driving_menu = widgets.Dropdown(options=driving_gallery(), description="video", layout=wide)
        self.driving_upload = widgets.FileUpload(accept="video/*,.gif", description="upload video")
        self.model_menu = widgets.Dropdown(options=models or _model_choices(), description="model",
                                           layout=widgets.Layout(width="820px"))
        self.crop_menu = widgets.Dropdown(options=[("centre crop", "crop"), ("pad", "pad"), ("stretch", "stretch"),
                                                   ("face crop", "face")], description="fit")
        self.paste_box = widgets.Checkbox(False, description="paste into the whole photo", indent=False)
        self.motion_toggle = widgets.ToggleButtons(options=[("relative", True), ("absolute", False)],
                                                   description="motion", style={"button_width": "80px"})
        self.adapt_box = widgets.Checkbox(True, description="adapt movement scale", indent=False)
        self.best_frame_box = widgets.Checkbox(False, description="start from the best frame", indent=False)
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(0, 0, 1, description="frames")
        self.status = widgets.HTML()
        self.status.add_class("fomm-tryit-status")
        self.hint = widgets.HTML()
        self.use_photo_model = widgets.Button(description=f"use {PHOTO_MODEL}", layout=widgets.Layout(display="none"))
        self.source_preview = widgets.Image(format="jpeg", width=PREVIEW_SIZE, height=PREVIEW_SIZE)
        self.driving_preview = widgets.Image(format="jpeg", width=PREVIEW_SIZE, height=PREVIEW_SIZE)
        self.view = ResultView()
        self.video, self.download = self.view.video, self.view.download  # the result video and its downloads

        guard = self.messages.guard
        for upload, menu in ((self.source_upload, self.source_menu), (self.driving_upload, self.driving_menu)):
            upload.observe(guard(functools.partial(self._take_upload, upload, menu)), names="value")
        self.source_menu.observe(guard(lambda _: self._source_changed()), names="value")
        self.driving_menu.observe(guard(lambda _: self._preview_driving()), names="value")
        self.model_menu.observe(lambda _: self._attempt(self.model), names="value")
        self.crop_menu.observe(lambda change: setattr(self.paste_box, "value", change["new"] == "face"), names="value")
        self.use_photo_model.on_click(lambda _: setattr(self.model_menu, "value", PHOTO_MODEL))
        self.generate_button.on_click(lambda _: self.generate())
        self.source_thumbnails = self._thumbnails(self.source_menu, read_image)
        self.driving_thumbnails = self._thumbnails(self.driving_menu, lambda path: first_frame(path, path.name))

        picture = widgets.HBox([self.source_preview, widgets.VBox([self.source_menu, self.source_thumbnails,
                                                                    self.source_upload])])
        video = widgets.HBox([self.driving_preview, widgets.VBox([self.driving_menu, self.driving_thumbnails,
                                                                   self.driving_upload])])
        choose = widgets.VBox([
            widgets.HBox([picture, video]), self.model_menu, widgets.HBox([self.hint, self.use_photo_model]),
            widgets.HBox([self.crop_menu, self.paste_box, self.best_frame_box]),
            widgets.HBox([self.motion_toggle, self.adapt_box]),
            widgets.HBox([self.generate_button, self.progress, self.status]),
        ])
        super().__init__([widgets.HTML(STYLE), choose, self.messages, self.download_log, self.view])
        self.add_class("fomm-tryit")
        guard(self._source_changed)()
        guard(self._preview_driving)()
        self._ready()

    # ------------------------------------------------------------ choices

    def _path(self, choice):
        """A menu value as a file path (gallery items are written on first use, once for the machine)."""
        return as_path(choice)

    def _thumbnails(self, menu, read):
        """Clickable thumbnails of ``menu``'s gallery items; a click selects the item in the menu."""
        items = [(label, self._path(choice)) for label, choice in menu.options]
        choices = {self._path(choice): choice for _, choice in menu.options}
        return Thumbnails(items, read, lambda path: setattr(menu, "value", choices[path]))

    def _take_upload(self, upload, menu, change=None):
        """Save the file just uploaded with ``upload`` and select it in ``menu``; a file that cannot be shown is
        refused (the menu keeps its previous choice) with a message naming it."""
        if not upload.value:
            return
        item = upload.value[-1]
        name = re.sub(r"[^\w.-]", "_", Path(item["name"]).name) or "upload"
        path = self.work_dir / "uploads" / name
        path.parent.mkdir(exist_ok=True)
        checking = path.with_name(f".checking-{name}")  # an earlier upload of the same name stays until this one reads
        checking.write_bytes(bytes(item["content"]))
        kind = "picture" if menu is self.source_menu else "video"
        try:
            read_image(checking) if kind == "picture" else first_frame(checking, item["name"])
        except Exception as error:  # the file is refused: the menu keeps its choice, an earlier upload its file
            checking.unlink()
            if not isinstance(error, FommError):
                raise
            raise type(error)(f"{item['name']}: cannot be used as the {kind} "
                              f"({self._plain(str(error), {checking: item['name']})})") from None
        checking.replace(path)
        label = f"uploaded: {item['name']}"
        menu.options = [option for option in menu.options if option[0] != label] + [(label, path)]
        menu.value = path

    def _source_changed(self):
        self.source_preview.value = encode_image(read_image(self._path(self.source_menu.value)), PREVIEW_SIZE)
        self._refresh()

    def _preview_driving(self):
        path = self._path(self.driving_menu.value)
        self.driving_preview.value = encode_image(first_frame(path, self.driving_menu.label), PREVIEW_SIZE)
        self._refresh()

    def _offer_photo_model(self):
        """One line when a photo meets the cartoon model, with a button that picks :data:`PHOTO_MODEL`."""
        names = [name for _, name in self.model_menu.options]
        photo = not is_cartoon(self.source_menu.label or "")
        if self.model_menu.value == "demo" and photo and PHOTO_MODEL in names:
            self.hint.value = ("The <b>demo</b> model paints 64×64 cartoon faces: a photo comes out as a blurry "
                               f"cartoon. For photos of real faces choose <b>{PHOTO_MODEL}</b> (256×256, downloaded "
                               "once).")
            self.use_photo_model.layout.display = None
        else:
            self.hint.value = ""
            self.use_photo_model.layout.display = "none"

    def model(self) -> "FirstOrderModel":
        """The chosen model, loaded (and downloaded) once; a failure is raised, never swallowed by the log."""
        name = self.model_menu.value
        if name not in self._models:
            self._set_state("loading", f"loading model {name}…")
            self.download_log.outputs = ()  # the last attempt's lines
            try:
                self._models[name] = run_inside(self.download_log, self._get_model, name)
            except DownloadError as error:
                from ..hub import manual_download

                self.download_log.append_stdout(f"{error}\n")  # every source's reason, under the message
                raise DownloadError(f"model {name} could not be downloaded: {manual_download(name)}; or choose "
                                    "the model demo, which works offline") from None
            self.download_log.outputs = ()
        return self._models[name]

    # ------------------------------------------------------------ state

    def _set_state(self, state, text):
        self.state = state
        self.status.value = f"<b>{state}</b>: {text}" if state != "ready" else text

    def _estimate(self):
        """"About N s" for the chosen model and video: measured by this app, or a first guess by the model's size."""
        name = self.model_menu.value
        try:
            with open_video(self._path(self.driving_menu.value)) as reader:
                frames = reader.num_frames
        except FommError:
            return ""
        per_frame = self._seconds_per_frame.get(name)
        size = _image_size(name, self._models.get(name))
        if per_frame is None and size is None:
            return ""
        per_frame = per_frame if per_frame is not None else SECONDS_PER_PIXEL * size * size
        return f"; a result from this video ({frames} frames) takes about {max(1, round(per_frame * frames))} s"

    def _ready(self, done=""):
        """Status back to ready: which model runs, and how long a result takes."""
        self._offer_photo_model()
        name = self.model_menu.value
        self._set_state("ready", f"ready{done}. Model <b>{name}</b>{self._estimate()}.")

    def _refresh(self):
        """The ready line again for the new choices (not while a model loads or Generate runs)."""
        if self.state == "ready":
            self._ready()

    def _busy(self, busy):
        for control in (self.generate_button, self.model_menu, self.source_upload, self.driving_upload):
            control.disabled = busy

    def _plain(self, text, names=None):
        """``text`` with the chosen files' full paths replaced by the names the user knows them by."""
        names = names or {self._path(self.source_menu.value): self.source_menu.label,
                          self._path(self.driving_menu.value): self.driving_menu.label}
        for path, label in names.items():
            text = text.replace(str(path), label)
        return text

    # ------------------------------------------------------------ work

    def _report_progress(self, done, total):
        self.progress.max = max(total or done, 1)
        self.progress.value = min(done, self.progress.max)
        self._set_state("running", f"animating… frame {done} of {total}")

    def generate(self) -> None:
        """Animate the chosen picture by the chosen video; errors appear in the app, and it returns to ready."""
        self.view.hide()
        self._attempt(self._generate)

    def _attempt(self, work):
        """Run ``work()`` with the buttons off; a failure becomes one line in the app; ready again either way."""
        self._busy(True)
        self.messages.clear()
        failed = True
        try:
            work()
            failed = False
        except FaceNotFoundError as error:
            where = self.source_menu.label if str(self._path(self.source_menu.value)) in str(error) \
                else self.driving_menu.label
            self.messages.report(f"{where}: no face found. Choose a picture and a video with a face seen from the "
                                 "front, or set fit to “centre crop”.")
        except Exception as error:  # every failure: one line in the app, then ready again
            self.messages.report(type(error)(self._plain(str(error))) if isinstance(error, FommError) else error)
        finally:
            self._busy(False)
            if failed:
                self._ready(" (that failed: see the message below)")
            elif self.state != "ready":
                self._ready()

    def _generate(self):
        model = self.model()
        out = Path(tempfile.mkdtemp(prefix="result-", dir=self.work_dir))
        self.progress.value = 0
        self._set_state("queued", "waiting for a turn…")
        with self.queue.turn(lambda ahead: self._set_state("queued", f"{ahead} ahead of you; Generate runs one "
                                                           "at a time for everyone on this machine…")):
            self._set_state("running", "animating…")
            start = time.perf_counter()
            options = MotionOptions(relative=self.motion_toggle.value, adapt_movement_scale=self.adapt_box.value)
            self.result = animate_files(
                model, self._path(self.source_menu.value), self._path(self.driving_menu.value), out / "result.mp4",
                options=options, crop=self.crop_menu.value, side_by_side_path=out / "side_by_side.mp4",
                progress=self._report_progress, best_frame=self.best_frame_box.value,
                paste_back=self.paste_box.value,
            )
            seconds = time.perf_counter() - start
        self._seconds_per_frame[self.model_menu.value] = seconds / max(1, self.result.num_frames)
        self._show_result()
        best = "" if self.result.best_frame is None else f", starting from the best frame {self.result.best_frame}"
        self._set_state("ready", f"ready: {self.result.num_frames} frames in {seconds:.1f} s{best}")

    def _show_result(self):
        with open_video(self.result.side_by_side) as reader:
            height, width = reader.size
        with open_video(self.result.video) as reader:
            result_height, result_width = reader.size
        source = read_image(self._path(self.source_menu.value)).shape if self.paste_box.value else (1, 1)
        self.view.show(self.result.side_by_side, self.result.video, (height, width),
                       [source[1] / source[0], 1.0, result_width / result_height])
