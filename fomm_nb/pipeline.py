"""Files in, files out: animate an image file by a video file into a video file.

This is what the command line, the demo and the try-it app call. Frames
stream from the reader through the engine to the writer, so a long video
needs no more memory than a short one, and the outputs appear only when they
are complete (an interrupted run leaves nothing at the output paths).

*Framing*: each file's frames become the model's ``(size, size, 3)``
squares by a crop mode: ``"crop"`` (the centred square), ``"pad"``,
``"stretch"`` (see :func:`~fomm_nb.media.fit_frame`) or ``"face"``: the
source is cut around its face (:func:`~fomm_nb.face.face_crop_box`), the
driving video by one fixed box that holds its face in every frame
(:func:`~fomm_nb.face.video_crop_boxes`).

*Best frame*: with ``best_frame`` the driving frame closest in pose to the
source (:func:`~fomm_nb.best_frame.find_best_frame`) becomes the initial
frame of relative motion, as :func:`~fomm_nb.best_frame.animate_from_best_frame`
does; the output keeps the original order.

*Paste-back*: with ``paste_back`` each animated square is put back into the
whole photo through its crop box, with a feathered seam
(:class:`~fomm_nb.paste_back.PasteBack`): the video has the photo's size
(at most :data:`~fomm_nb.paste_back.MAX_SIDE` pixels on its longer side,
even sides), and outside the box every pixel is the photo's.

*Side by side*: source | driving | result at the model's size, enlarged by
a whole number (nearest pixel, so a 64-pixel model's frames stay sharp) to
at least :data:`SIDE_BY_SIDE_HEIGHT` pixels; with paste-back, the photo |
driving | pasted result at the pasted height (at most :data:`SIDE_BY_SIDE_HEIGHT` x 2).

*Passes*: the driving video is decoded once to animate, once more to find
the face box (``crop="face"``), and twice more for the best frame (to find
it, then to fetch it). Only boxes, keypoints and the one best frame are kept.

Example:
    >>> from fomm_nb.hub import get_model
    >>> model = get_model("demo")  # doctest: +SKIP
    >>> animate_files(model, "face.png", "talk.mp4", "result.mp4", crop="face", best_frame="keypoints")  # doctest: +SKIP
    AnimationResult(video=PosixPath('result.mp4'), side_by_side=None, num_frames=120, fps=29.97..., best_frame=42)
"""

import math
import re
import sys
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .animate import AnimationEngine
from .arguments import check_batch_memory
from .best_frame import find_best_frame
from .config import DEFAULT_BATCH_SIZE
from .errors import InputError, MediaError
from .face import Box, FaceNotFoundError, crop, face_crop_box, video_crop_boxes
from .media import VideoWriter, fit_frame, has_audio, mux_audio, open_video, read_image, side_by_side
from .media.files import partial_beside, replacing
from .motion import MotionOptions
from .outputs import PICTURE_SUFFIXES, VIDEO_SUFFIXES, Output, PathLike, check_outputs
from .paste_back import PasteBack, square_box

if TYPE_CHECKING:
    from .autotune import Tuning
    from .model import FirstOrderModel

__all__ = ["CROP_MODES", "BEST_FRAME_METHODS", "SIDE_BY_SIDE_HEIGHT", "AnimationResult", "Framing", "animate_files"]

CROP_MODES = ("crop", "pad", "stretch", "face")
BEST_FRAME_METHODS = ("keypoints", "landmarks")
SIDE_BY_SIDE_HEIGHT = 256  # pixels: the side-by-side video is at least this tall (a whole multiple of the model's size)


@dataclass
class AnimationResult:
    """Where :func:`animate_files` wrote its videos, how many frames, and the initial driving frame."""

    video: Path
    side_by_side: Path | None
    num_frames: int
    fps: float
    best_frame: int | None = None  # the driving frame chosen by best_frame; None: the first, as usual
    tuning: "Tuning | None" = None  # what tune=True chose and why (fomm_nb.autotune); None: not tuned


@dataclass(frozen=True)
class Framing:
    """How the frames of one file become the model's ``(size, size, 3)`` squares.

    Attributes:
        mode: one of :data:`CROP_MODES`.
        size: the model's image size.
        box: the part of the frame that is used, in pixels: the face crop, the
            centred square, or the whole frame (``"pad"``, ``"stretch"``).

    Example:
        >>> framing = Framing("face", 64, Box(left=140, top=21, right=307, bottom=188))
        >>> framing(photo).shape  # the astronaut's face, 512x512 -> 64x64  # doctest: +SKIP
        (64, 64, 3)
    """

    mode: str
    size: int
    box: Box

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` ``(H, W, 3)`` as a ``(size, size, 3)`` float32 square."""
        if self.mode == "face":
            return crop(frame, self.box, self.size)
        return fit_frame(frame, self.size, mode=self.mode)


def animate_files(
    model: "FirstOrderModel",
    source_path: PathLike,
    driving_path: PathLike,
    output_path: PathLike,
    options: MotionOptions | None = None,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    crop: str = "crop",
    side_by_side_path: PathLike | None = None,
    keep_audio: bool = True,
    progress: bool | Callable[[int, int], object] = False,
    crop_picture_path: PathLike | None = None,
    best_frame: bool | str = False,
    paste_back: bool = False,
    workers: int | None = None,
    tune: bool | str = False,
) -> AnimationResult:
    """Animate the image ``source_path`` by the video ``driving_path`` into ``output_path``.

    Args:
        model: a :class:`~fomm_nb.model.FirstOrderModel`.
        options: :class:`~fomm_nb.motion.MotionOptions` (relative by default).
        crop: how frames become the model's square size: ``"crop"`` (centre),
            ``"pad"``, ``"stretch"`` or ``"face"`` (cut around the face; a
            :class:`~fomm_nb.face.FaceNotFoundError` naming the file when
            there is none).
        side_by_side_path: also write source | driving | result there.
        keep_audio: copy the driving video's audio track, when it has one.
        progress: show a progress bar (``True``) or call ``progress(done, total)``.
        crop_picture_path: also write a picture (png, jpg, svg, pdf) of the
            source and the first driving frame with the boxes they are cut to.
        best_frame: ``False``, or start relative motion from the driving
            frame closest in pose to the source, found by ``"keypoints"`` (the
            model's; ``True`` means this) or ``"landmarks"`` (needs face_alignment).
        paste_back: put each animated square back into the whole photo
            (:mod:`fomm_nb.paste_back`): the video has the photo's size.
        batch_size, workers: the engine's (see :class:`~fomm_nb.animate.AnimationEngine`);
            ``None``: tuned with ``tune``, else :data:`~fomm_nb.config.DEFAULT_BATCH_SIZE`
            and the engine's default.
        tune: time the settings left ``None`` and each layer's paths on this
            machine and keep the fastest (:func:`~fomm_nb.autotune.tune_engine`,
            cached); the result's ``tuning`` says what was chosen and why.
            ``True`` times the settings only when that takes fewer frames than
            the video has (or they are cached), ``"always"`` always.

    Returns:
        An :class:`AnimationResult`.

    Raises:
        InputError: a batch size below 1, or too large for the device's free memory.
        OutputError: before any work, when an output path is an input, another
            output, a folder, in a missing or read-only folder, or of a type
            its writer cannot write (:func:`~fomm_nb.outputs.check_outputs`).
    """
    method = _best_frame_method(best_frame)
    if crop not in CROP_MODES:
        raise InputError(f"crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")
    check_outputs(
        [Output("output_path", output_path, VIDEO_SUFFIXES), Output("side_by_side_path", side_by_side_path, VIDEO_SUFFIXES),
         Output("crop_picture_path", crop_picture_path, PICTURE_SUFFIXES)],
        {"source": source_path, "driving": driving_path},
    )
    if batch_size is not None:
        check_batch_memory(batch_size, model.image_size, model.device)
    output_path = Path(output_path)
    image = read_image(source_path)
    source_framing = _framing(crop, model.image_size, image.shape, source_path, lambda: face_crop_box(image))
    source = source_framing(image)
    paste = PasteBack(image, square_box(crop, *image.shape[:2], source_framing.box)) if paste_back else None
    sound = keep_audio and has_audio(driving_path)
    with open_video(driving_path) as reader, ExitStack() as staged:
        driving_framing = _framing(crop, model.image_size, reader.size, driving_path,
                                   lambda: Box(*map(int, video_crop_boxes(reader)[0])))
        driving = lambda: map(driving_framing, reader)  # a fresh pass over the fitted driving frames
        # made once the inputs are known good: tuning takes a while
        engine, tuning = _engine(model, source, options or MotionOptions(), (batch_size, workers), tune, progress,
                                 reader.num_frames)
        index = None if method is None else _start_from_best_frame(engine, source, driving, method, source_path)
        # Partial files beside the outputs, renamed over them at the end of the block, deleted on any error.
        video, companion, picture = (None if path is None else staged.enter_context(replacing(Path(path)))
                                     for path in (output_path, side_by_side_path, crop_picture_path))
        silent = _scratch_beside(staged, output_path) if sound else video
        with _user_paths({silent: output_path, video: output_path, companion: side_by_side_path,
                          picture: crop_picture_path}):
            if picture is not None:
                _write_crop_picture(picture, (image, source_framing), (_frame_at(reader, 0), driving_framing))
            with _progress_reporter(progress, reader.num_frames) as report:
                num_frames = _write_animation(engine, driving(), (image, source, paste), reader.fps, silent,
                                              companion, report)
            if sound:
                mux_audio(silent, driving_path, video)
    return AnimationResult(output_path, Path(side_by_side_path) if side_by_side_path else None, num_frames,
                           reader.fps, index, tuning)


def _engine(model, source, options, settings, tune, progress, num_frames):
    """``(engine, tuning)``: an engine for ``source``, tuned (:func:`~fomm_nb.autotune.tune_engine`) or not (``None``).

    ``settings`` is ``(batch_size, workers)``, each ``None`` to tune or to default.
    """
    batch_size, workers = settings
    if not tune:
        engine = AnimationEngine(model, batch_size=batch_size or DEFAULT_BATCH_SIZE, options=options, workers=workers)
        engine.set_source(source)
        return engine, None
    from .autotune import tune_engine

    log = (lambda line: print(line, file=sys.stderr)) if progress is True else None
    frames = None if tune == "always" or not num_frames else num_frames
    return tune_engine(model, source, batch_size=batch_size, workers=workers, options=options, frames=frames, log=log)


def _best_frame_method(best_frame):
    """``best_frame`` as a method of :func:`find_best_frame` (``True``: keypoints), or None for none."""
    if best_frame is True:
        return "keypoints"
    if best_frame is False or best_frame is None:
        return None
    if best_frame not in BEST_FRAME_METHODS:
        raise InputError(f"best_frame must be False, 'keypoints' or 'landmarks', got {best_frame!r}")
    return best_frame


@contextmanager
def _user_paths(partials):
    """Re-raise a :class:`MediaError` that names a partial file (``{partial: user's path}``, or one the
    writer made from it) with the user's path instead: the user never sees an internal name."""
    try:
        yield
    except MediaError as error:
        message = str(error)
        for partial, path in partials.items():
            if partial is not None:
                message = re.sub(rf"[^\s:'\"]*{re.escape(partial.name)}[^\s:'\"]*", lambda _: str(path), message)
        if message == str(error):
            raise
        raise type(error)(message) from None


@contextmanager
def _face_required(path, instead):
    """Re-raise :class:`FaceNotFoundError` as one line that names ``path`` and says what to do ``instead``."""
    try:
        yield
    except FaceNotFoundError:
        raise FaceNotFoundError(f"{path}: no face found; {instead}") from None


def _framing(mode, size, shape, path, face_box):
    """The :class:`Framing` of the file ``path`` of frames ``shape`` ``(H, W, ...)``; ``face_box()`` finds a face crop."""
    if mode != "face":
        return Framing(mode, size, _fit_box(shape, mode))
    with _face_required(path, "the face detector finds frontal faces tilted up to 30 degrees: crop the file "
                              "by hand, or choose the crop mode 'crop', 'pad' or 'stretch'"):
        return Framing(mode, size, face_box())


def _fit_box(shape, mode):
    """The part of a frame of ``shape`` that :func:`fit_frame` uses: the centred square (``"crop"``), else all."""
    height, width = shape[:2]
    if mode != "crop":
        return Box(0, 0, width, height)
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    return Box(left, top, left + side, top + side)


def _frame_at(frames, index):
    """Frame ``index`` of the iterable ``frames`` (one pass, up to that frame; nothing else kept)."""
    return next(islice(frames, index, None))


def _start_from_best_frame(engine, source, driving, method, source_path):
    """Make the driving frame closest in pose to ``source`` the engine's initial frame; its index.

    ``driving()`` gives a fresh iterator of fitted driving frames: one pass finds
    the index, a second fetches the frame.
    """
    with _face_required(source_path, "start from the best frame by keypoints instead of landmarks"):
        index = find_best_frame(engine, source, driving(), method=method)
    engine.set_initial_driving(_frame_at(driving(), index))
    return index


def _scratch_beside(stack, path):
    """A partial-file name beside ``path`` for an intermediate file, deleted when ``stack`` closes."""
    scratch = partial_beside(Path(path))
    stack.callback(scratch.unlink, missing_ok=True)
    return scratch


def _write_crop_picture(path, *views):
    """Save ``views`` (each ``(image (H, W, 3), Framing)``: source, driving) side by side with their boxes."""
    from matplotlib.figure import Figure

    from .plotting import plot_crop  # matplotlib is loaded only when a picture is asked for

    figure = Figure(figsize=(5 * len(views), 5))
    for ax, (image, framing), title in zip(figure.subplots(1, len(views)), views, ("source", "driving (first frame)")):
        plot_crop(image, framing.box, ax=ax)
        ax.set_title(f"{title} ({framing.mode})")
    figure.savefig(path, dpi=80, bbox_inches="tight")


def _write_animation(engine, frames, sources, fps, path, companion_path, report):
    """Stream the animation of ``frames`` into ``path`` (and source | driving | result into
    ``companion_path``, if given); returns the number of frames written.

    ``sources`` is ``(photo, source square, paste)``: ``paste`` puts a square back into the photo, or is None.
    """
    photo, source, paste = sources
    pending = deque()  # driving frames whose results are not yet written

    def remembered():
        for frame in frames:
            pending.append(frame)
            yield frame

    num_frames = 0
    with VideoWriter(path, fps) as writer, _optional_writer(companion_path, fps) as companion:
        for frame in engine.stream(remembered()):
            driving = pending.popleft()
            if paste is not None:
                frame = paste(frame)
            writer.append(frame)
            if companion is not None:
                companion.append(_companion_frame(source if paste is None else photo, driving, frame))
            num_frames += 1
            report(num_frames)
    return num_frames


def _companion_frame(source, driving, result):
    """source | driving | result ``(h, w, 3)``: model-size squares enlarged by a whole number (nearest pixel),
    or, when the result is a pasted photo, all at its height (at most twice :data:`SIDE_BY_SIDE_HEIGHT`)."""
    if result.shape[:2] == driving.shape[:2]:
        times = math.ceil(SIDE_BY_SIDE_HEIGHT / driving.shape[0])
        return side_by_side(source, driving, result).repeat(times, axis=0).repeat(times, axis=1)
    height = min(result.shape[0], 2 * SIDE_BY_SIDE_HEIGHT) // 2 * 2
    return side_by_side(source, driving, result, height=height)


def _optional_writer(path, fps):
    return VideoWriter(path, fps) if path is not None else nullcontext()


@contextmanager
def _progress_reporter(progress, total):
    """Yield a function ``report(done)``: a tqdm bar, a user callback, or nothing.

    The bar is closed however the block ends, so that an error is printed on a line of its own.
    """
    if callable(progress):
        yield lambda done: progress(done, total)
    elif not progress:
        yield lambda done: None
    else:
        from tqdm.auto import tqdm

        with tqdm(total=total, unit="frame", desc="animating") as bar:
            yield lambda done: bar.update(done - bar.n)
