"""Files in, files out: animate an image file by a video file into a video file.

This is what the command line, the demo and the try-it app call. Frames
stream from the reader through the engine to the writer, so a long video
needs no more memory than a short one, and the output appears only when it
is complete (an interrupted run leaves nothing at the output path).

Example:
    >>> from fomm_nb.hub import get_model
    >>> model = get_model("demo")  # doctest: +SKIP
    >>> animate_files(model, "face.png", "talk.mp4", "result.mp4")  # doctest: +SKIP
    PosixPath('result.mp4')
"""

import os
import tempfile
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from .animate import AnimationEngine, MotionOptions
from .errors import MediaError
from .media import VideoWriter, fit_frame, has_audio, mux_audio, open_video, read_image, side_by_side


@dataclass
class AnimationResult:
    """Where :func:`animate_files` wrote its videos, and how many frames."""

    video: Path
    side_by_side: Path | None
    num_frames: int
    fps: float


def animate_files(
    model,
    source_path,
    driving_path,
    output_path,
    options=None,
    batch_size=8,
    crop="crop",
    side_by_side_path=None,
    keep_audio=True,
    progress=False,
):
    """Animate the image ``source_path`` by the video ``driving_path`` into ``output_path``.

    Args:
        model: a :class:`~fomm_nb.model.FirstOrderModel`.
        options: :class:`~fomm_nb.animate.MotionOptions` (relative by default).
        crop: how frames become the model's square size: ``"crop"`` (centre),
            ``"pad"`` or ``"stretch"``.
        side_by_side_path: also write source | driving | result there.
        keep_audio: copy the driving video's audio track, when it has one.
        progress: show a progress bar (``True``) or call ``progress(done, total)``.

    Returns:
        An :class:`AnimationResult`.
    """
    size = model.image_size
    source = fit_frame(read_image(source_path), size, mode=crop)
    engine = AnimationEngine(model, batch_size=batch_size, options=options or MotionOptions())
    engine.set_source(source)
    output_path = Path(output_path)
    if not output_path.parent.is_dir():
        raise MediaError(f"{output_path}: the folder {output_path.parent} does not exist")
    with open_video(driving_path) as reader, tempfile.TemporaryDirectory(dir=output_path.parent, prefix=".fomm-") as work:
        pending_driving = deque()  # fitted driving frames whose results are not yet written

        def fitted_frames():
            for frame in reader:
                fitted = fit_frame(frame, size, mode=crop)
                pending_driving.append(fitted)
                yield fitted

        silent = Path(work) / f"result{output_path.suffix}"
        companion_path = Path(work) / f"side{Path(side_by_side_path).suffix}" if side_by_side_path else None
        report = _progress_reporter(progress, reader.num_frames)
        num_frames = 0
        with VideoWriter(silent, reader.fps) as writer, _optional_writer(companion_path, reader.fps) as companion:
            for frame in engine.stream(fitted_frames()):
                writer.append(frame)
                driving = pending_driving.popleft()
                if companion is not None:
                    companion.append(side_by_side(source, driving, frame, height=max(size, 256)))
                num_frames += 1
                report(num_frames)
        report(None)
        if keep_audio and has_audio(driving_path):
            mux_audio(silent, driving_path, output_path)
        else:
            os.replace(silent, output_path)
        if companion_path is not None:
            os.replace(companion_path, side_by_side_path)
    return AnimationResult(output_path, Path(side_by_side_path) if side_by_side_path else None, num_frames, reader.fps)


def _optional_writer(path, fps):
    return VideoWriter(path, fps) if path is not None else nullcontext()


def _progress_reporter(progress, total):
    """A function ``report(done)`` (``None`` closes): a tqdm bar, a user callback, or nothing."""
    if callable(progress):
        return lambda done: done is not None and progress(done, total)
    if not progress:
        return lambda done: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="frame", desc="animating")
    return lambda done: bar.close() if done is None else bar.update(done - bar.n)
