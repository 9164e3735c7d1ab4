"""Extract a motion track from driving frames, and replay a track on a source without the video.

:func:`extract_track` runs only the keypoint detector, batch by batch, over
an iterable of frames (memory stays flat); :func:`stream_track` paints the
source by the track's keypoints, after the engine's motion transfer
(relative to the track's ``initial_frame`` by default). An unedited track
replays exactly the frames that animating from the video gives.

:func:`track_video` and :func:`replay_track` do the same from files to files,
for ``fomm-nb track`` and ``fomm-nb animate --motion``.

Example:
    >>> from fomm_nb.animate import AnimationEngine
    >>> from fomm_nb.hub import get_model
    >>> engine = AnimationEngine(get_model("demo"))
    >>> driving = np.random.rand(6, 64, 64, 3).astype(np.float32)
    >>> track = extract_track(engine, driving, fps=25.0)
    >>> _ = engine.set_source(driving[0])
    >>> np.stack(list(stream_track(engine, track))).shape
    (6, 64, 64, 3)
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from ..arguments import check_batch_memory
from ..config import DEFAULT_BATCH_SIZE
from ..errors import InputError
from ..media import VideoWriter, fit_frame, frames_to_tensor, open_video, read_image, tensor_to_frames
from ..types import Keypoints
from .filters import smooth
from .track import MotionTrack

__all__ = ["extract_track", "stream_track", "track_video", "replay_track", "fitted_source"]


def _batches(frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """``(B, H, W, C)`` arrays of up to ``size`` frames of the iterable ``frames``."""
    frames = iter(frames)
    while batch := list(islice(frames, size)):
        yield np.stack(batch).astype(np.float32, copy=False)


def extract_track(engine, frames: Iterable[np.ndarray], fps: float = 25.0, progress: Callable[[int], object] | None = None,
                  **metadata) -> MotionTrack:
    """The :class:`MotionTrack` of driving ``frames`` (an iterable of ``(H, W, C)`` float images), by ``engine``'s model.

    Args:
        engine: an :class:`~fomm_nb.animate.AnimationEngine` (only its keypoint detector runs).
        fps: the driving video's frame rate, kept in the track.
        progress: called with the number of frames done after each batch.
        metadata: free-form notes for the track (``driving="talk.mp4"``).
    """
    values, jacobians, done = [], [], 0
    for batch in _batches(frames, engine.batch_size):
        kp = engine.detect(frames_to_tensor(batch, engine.device))
        values.append(kp["value"].cpu())
        if "jacobian" in kp:
            jacobians.append(kp["jacobian"].cpu())
        done += len(batch)
        if progress is not None:
            progress(done)
    if not values:
        raise InputError("no driving frames: a track needs at least one")
    kp = {"value": torch.cat(values), **({"jacobian": torch.cat(jacobians)} if jacobians else {})}
    return MotionTrack.from_keypoints(kp, fps, engine.model, **metadata)


def stream_track(engine, track: MotionTrack) -> Iterator[np.ndarray]:
    """Yield one animated ``(H, W, C)`` float32 frame per frame of ``track``, painted on ``engine``'s source.

    The engine's :class:`~fomm_nb.motion.MotionOptions` apply, relative to the
    track's ``initial_frame``. Raises :class:`~fomm_nb.tracks.TrackError` when
    the track was made by another keypoint detector.
    """
    track.check_model(engine.model)
    engine.kp_driving_initial = Keypoints(**track.keypoints(track.initial_frame, track.initial_frame + 1, engine.device))
    for start in range(0, len(track), engine.batch_size):
        kp = Keypoints(**track.keypoints(start, start + engine.batch_size, engine.device))
        yield from tensor_to_frames(engine.render(kp))


def fitted_source(model, source_path, crop: str = "crop") -> np.ndarray:
    """The image file ``source_path`` as the model's ``(size, size, 3)`` square: ``crop`` is
    ``"crop"``, ``"pad"``, ``"stretch"`` (:func:`~fomm_nb.media.fit_frame`) or ``"face"``."""
    from ..face import crop_to_face

    image = read_image(source_path)
    if crop == "face":
        return crop_to_face(image, model.image_size, name=str(source_path))
    return fit_frame(image, model.image_size, mode=crop)


@contextmanager
def _bar(progress: bool, total: int | None, what: str):
    """A function ``report(done)`` that moves a tqdm bar (``progress``) or does nothing."""
    if not progress:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="frame", desc=what) as bar:
        yield lambda done: bar.update(done - bar.n)


def track_video(model, driving_path, crop: str = "crop", batch_size: int = DEFAULT_BATCH_SIZE, smoothing: str = "none",
                progress: bool = False) -> MotionTrack:
    """The track of the video file ``driving_path`` (frames fitted to the model by ``crop``), smoothed by ``smoothing``.

    ``crop="face"`` cuts every frame by one box that holds the face in all of them, as ``fomm-nb animate`` does.
    """
    from ..animate import AnimationEngine
    from ..face import crop as crop_box_of, video_crop_boxes

    check_batch_memory(batch_size, model.image_size, model.device)
    engine = AnimationEngine(model, batch_size=batch_size)
    with open_video(driving_path) as reader:
        if crop == "face":
            box = video_crop_boxes(reader, name=str(driving_path))[0]
            frames = (crop_box_of(frame, box, model.image_size) for frame in reader)
        else:
            frames = (fit_frame(frame, model.image_size, mode=crop) for frame in reader)
        with _bar(progress, reader.num_frames, "tracking") as report:
            track = extract_track(engine, frames, reader.fps, report, driving=Path(driving_path).name, crop=crop)
    return smooth(track, smoothing)


def replay_track(model, source_path, track: MotionTrack, output_path, options=None, crop: str = "crop",
                 batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> Path:
    """Animate the image file ``source_path`` by ``track`` into the video ``output_path`` (at the track's fps).

    The video appears only when complete.
    """
    from ..animate import AnimationEngine

    check_batch_memory(batch_size, model.image_size, model.device)
    engine = AnimationEngine(model, batch_size=batch_size, options=options)
    engine.set_source(fitted_source(model, source_path, crop))
    with VideoWriter(output_path, track.fps) as writer, _bar(progress, len(track), "animating") as report:
        for done, frame in enumerate(stream_track(engine, track), 1):
            writer.append(frame)
            if report is not None:
                report(done)
    return Path(output_path)
