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
from dataclasses import dataclass
from pathlib import Path

from .animate import AnimationEngine, MotionOptions
from .media import VideoWriter, fit_frame, has_audio, mux_audio, open_video, read_image, side_by_side


@dataclass
class AnimationResult:
    """Where :func:`animate_files` wrote its videos, and how many frames."""

    video: Path
    side_by_side: Path | None
    num_frames: int
    fps: float


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="frame", desc="animating")


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
        progress: show a progress bar.

    Returns:
        An :class:`AnimationResult`.
    """
    size = model.image_size
    source = fit_frame(read_image(source_path), size, mode=crop)
    engine = AnimationEngine(model, batch_size=batch_size, options=options or MotionOptions())
    engine.set_source(source)
    output_path = Path(output_path)
    num_frames = 0
    with open_video(driving_path) as reader:
        bar = _progress(reader.num_frames, progress)
        driving_frames = []  # the current batch only, kept for the side-by-side video

        def fitted_frames():
            for frame in reader:
                fitted = fit_frame(frame, size, mode=crop)
                if side_by_side_path is not None:
                    driving_frames.append(fitted)
                yield fitted

        with _writer(output_path, reader.fps, keep_audio and has_audio(driving_path), driving_path) as writer:
            companion = VideoWriter(side_by_side_path, fps=reader.fps) if side_by_side_path else None
            try:
                for frame in engine.stream(fitted_frames()):
                    writer.append(frame)
                    if companion is not None:
                        companion.append(side_by_side(source, driving_frames.pop(0), frame))
                    num_frames += 1
                    if bar is not None:
                        bar.update(1)
            except BaseException:
                if companion is not None:
                    companion.abort()
                raise
            if companion is not None:
                companion.close()
        if bar is not None:
            bar.close()
    return AnimationResult(output_path, Path(side_by_side_path) if side_by_side_path else None, num_frames, reader.fps)


class _writer:
    """A :class:`VideoWriter` that, on success, also muxes the driving video's audio."""

    def __init__(self, path, fps, with_audio, audio_source):
        self.path = Path(path)
        self.with_audio = with_audio
        self.audio_source = audio_source
        self.silent_path = None
        target = self.path
        if with_audio:
            handle, name = tempfile.mkstemp(dir=self.path.parent or ".", prefix=".silent-", suffix=self.path.suffix)
            os.close(handle)
            os.remove(name)
            self.silent_path = target = Path(name)
        self.writer = VideoWriter(target, fps=fps)

    def __enter__(self):
        return self.writer.__enter__()

    def __exit__(self, kind, error, trace):
        try:
            self.writer.__exit__(kind, error, trace)
            if kind is None and self.with_audio:
                mux_audio(self.silent_path, self.audio_source, self.path)
        finally:
            if self.silent_path is not None and self.silent_path.exists():
                self.silent_path.unlink()
        return False
