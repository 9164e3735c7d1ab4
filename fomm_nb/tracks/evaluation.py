"""Smoothing measured against ground truth, on held-out procedural videos that know their true landmarks.

For each video, on clean driving frames and on frames degraded as a webcam
degrades them (:func:`degrade_like_webcam`), the driving track is extracted,
smoothed by each filter (or not), and replayed on the video's first frame
(absolute motion, as ``fomm-nb evaluate`` reconstructs). Landmarks are read
off the animated frames by the independent landmark detector that
``fomm-nb evaluate`` reads AKD with (:mod:`fomm_nb.landmarks`); the measures are

* **jitter** of those landmarks (:func:`~fomm_nb.tracks.measures.jitter`,
  pixels per frame^2) beside the jitter of the true landmarks;
* **reconstruction L1** against the clean frames, and **AKD** (pixels)
  against the true landmarks;
* **lag**: the frame shift that best aligns the animated landmarks with the
  true ones (:func:`~fomm_nb.tracks.measures.lag`), averaged over videos.

Example:
    >>> from fomm_nb.hub import get_model
    >>> from fomm_nb.tracks import OneEuro
    >>> report = evaluate_smoothing(get_model("demo"), {"none": None, "one-euro": OneEuro()}, num_videos=1, num_frames=8)
    >>> sorted(report["rows"]["degraded"])
    ['none', 'one-euro']
"""

import io

import numpy as np
from PIL import Image

from ..config import DEFAULT_BATCH_SIZE
from ..data.procedural import make_video, split_seed
from .filters import FILTERS, smooth
from .measures import jitter, lag

__all__ = ["CONDITIONS", "DEFAULT_FILTERS", "named_filters", "degrade_like_webcam", "evaluate_smoothing",
           "format_smoothing_table"]

#: The driving frames each filter is measured on.
CONDITIONS = ("clean", "degraded")


#: No smoothing, and every filter of :data:`~fomm_nb.tracks.filters.FILTERS` at its default parameters.
DEFAULT_FILTERS = {"none": None, **{name: kind() for name, kind in FILTERS.items()}}


def named_filters(names) -> dict:
    """``{"none": None, name: filter at its defaults}`` for the filter ``names`` (empty: all), as ``--smooth`` gives them.

    Example:
        >>> named_filters(["savgol"])
        {'none': None, 'savgol': SavitzkyGolay(window=9, order=2)}
    """
    return {"none": None, **{name: FILTERS[name]() for name in (names or FILTERS) if name != "none"}}


def degrade_like_webcam(frames: np.ndarray, rng: np.random.Generator, noise: float = 0.03, quality: int = 30,
                        shake: int = 1) -> np.ndarray:
    """``frames`` ``(T, H, W, 3)`` in [0, 1] as a cheap webcam gives them: shaken by up to ``shake`` pixels at
    random in x and y (edges repeated), sensor noise of standard deviation ``noise``, then JPEG at ``quality``.

    Example:
        >>> frames = np.full((2, 32, 32, 3), 0.5, np.float32)
        >>> degraded = degrade_like_webcam(frames, np.random.default_rng(0))
        >>> degraded.shape, bool(0.001 < np.abs(degraded - frames).mean() < 0.02)  # JPEG evens out most noise
        ((2, 32, 32, 3), True)
    """
    out = np.empty_like(frames, dtype=np.float32)
    for index, frame in enumerate(frames):
        dy, dx = rng.integers(-shake, shake + 1, size=2)
        padded = np.pad(frame, ((shake, shake), (shake, shake), (0, 0)), mode="edge")
        height, width = frame.shape[:2]
        shaken = padded[shake + dy : shake + dy + height, shake + dx : shake + dx + width]
        noisy = np.clip(shaken + rng.normal(0, noise, shaken.shape), 0, 1)
        buffer = io.BytesIO()
        Image.fromarray((noisy * 255).round().astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
        out[index] = np.asarray(Image.open(buffer), np.float32) / 255
    return out


def _measure(engine, detector, video, frames, smoothing) -> dict:
    """The measures of one video animated by the (smoothed) track of ``frames``."""
    from ..motion import MotionOptions

    track = smooth(engine.track(frames), smoothing)
    engine.options = MotionOptions(relative=False)
    engine.set_source(video.frames[0])
    animated = np.stack(list(engine.stream_track(track)))
    from ..landmarks import read_landmarks

    landmarks = read_landmarks(detector, animated)
    return {"jitter": float(jitter(landmarks).mean()), "jitter_true": float(jitter(video.landmarks).mean()),
            "l1": float(np.abs(animated - video.frames).mean()),
            "akd": float(np.linalg.norm(landmarks - video.landmarks, axis=-1).mean()),
            "lag": float(lag(landmarks, video.landmarks))}


def evaluate_smoothing(model, filters: dict | None = None, num_videos: int = 50, num_frames: int = 32,
                       batch_size: int = DEFAULT_BATCH_SIZE, detector=None, progress: bool = False) -> dict:
    """The measures of each filter (``{name: filter or None}``, default :data:`DEFAULT_FILTERS`) on each condition.

    Landmarks are read by ``detector`` (default: the shipped independent one).

    Returns ``{"num_videos", "num_frames", "filters": {name: repr}, "rows": {condition: {name: {measure: mean}}}}``.
    """
    from tqdm.auto import tqdm

    from ..animate import AnimationEngine
    from ..landmarks import load_landmark_detector

    filters = DEFAULT_FILTERS if filters is None else filters
    engine = AnimationEngine(model, batch_size=batch_size)
    detector = detector or load_landmark_detector()
    sums = {condition: {name: {} for name in filters} for condition in CONDITIONS}
    with tqdm(total=num_videos, unit="video", desc="smoothing", disable=not progress) as bar:  # closed on errors too
        for index in range(num_videos):
            video = make_video(split_seed("test", index), num_frames, model.image_size)
            degraded = degrade_like_webcam(video.frames, np.random.default_rng(index))
            for condition, frames in zip(CONDITIONS, (video.frames, degraded)):
                for name, smoothing in filters.items():
                    for measure, value in _measure(engine, detector, video, frames, smoothing).items():
                        row = sums[condition][name]
                        row[measure] = row.get(measure, 0.0) + value / num_videos
            bar.update()
    return {"num_videos": num_videos, "num_frames": num_frames,
            "filters": {name: repr(smoothing) for name, smoothing in filters.items()}, "rows": sums}


def format_smoothing_table(report: dict) -> str:
    """The report as a Markdown table, with the changes against no smoothing."""
    lines = [f"{report['num_videos']} held-out procedural videos x {report['num_frames']} frames; "
             "jitter and AKD in pixels (64x64), lag in frames", "",
             "| driving frames | filter | jitter (true) | jitter change | L1 | L1 change | AKD | AKD change | lag |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for condition, rows in report["rows"].items():
        base = rows.get("none")
        for name, row in rows.items():
            change = (lambda key: "" if base is None or name == "none" else f"{row[key] / base[key] - 1:+.1%}")
            lines.append(f"| {condition} | {name} | {row['jitter']:.3f} ({row['jitter_true']:.3f}) | {change('jitter')} "
                         f"| {row['l1']:.4f} | {change('l1')} | {row['akd']:.3f} | {change('akd')} | {row['lag']:+.2f} |")
    lines += ["", *(f"{name}: {text}" for name, text in report["filters"].items() if name != "none")]
    return "\n".join(lines)
