"""Evaluation on held-out procedural videos, where every answer is known.

Three measures, each beside two baselines — the source copied unchanged
("no motion") and one global affine warp fitted to the landmarks:

* **Reconstruction L1**: the first frame of a test video animated by the
  whole video (absolute motion) against the real frames.
* **AKD** (average keypoint distance, pixels): landmarks read off the
  generated frames against the rendered ground-truth landmarks. They are read
  by the independent landmark detector (:mod:`fomm_nb.landmarks`), trained with
  supervision on rendered landmarks and sharing nothing with the model under
  test, as the paper reads them with an external detector. ``akd/ground_truth``
  is that detector's own error on the real frames: the floor of the ruler.
* **Cross-identity L1** and **AKD**: identity A, drawn in the first pose of
  video B, is animated by video B; the ground truth is A rendered in each of
  B's poses, with its landmarks. In relative and absolute mode. The affine
  baseline moves A by the affine map between B's first and current landmarks.

Example:
    >>> report = evaluate(get_model("demo"), num_videos=50)  # doctest: +SKIP
    >>> print(format_report(report))  # doctest: +SKIP
"""

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from .animate import AnimationEngine
from .arguments import check_range, device_option, int_option
from .config import DEFAULT_BATCH_SIZE
from .data.procedural import landmarks, make_video, render, split_seed
from .geometry import make_coordinate_grid
from .landmarks import LandmarkDetector, load_landmark_detector, read_landmarks
from .model import FirstOrderModel
from .motion import MotionOptions
from .outputs import Output, check_outputs, write_text_atomically
from .tracks import FILTERS
from .tracks.evaluation import evaluate_smoothing, format_smoothing_table, named_filters

__all__ = ["affine_warp", "evaluate", "format_report", "add_arguments", "run"]


def _normalised(points, size):
    """Pixel coordinates -> [-1, 1]."""
    return np.asarray(points, dtype=np.float64) / (size - 1) * 2 - 1


def affine_warp(image: np.ndarray, landmarks_from: np.ndarray, landmarks_to: np.ndarray) -> np.ndarray:
    """Move ``image`` ``(H, W, 3)`` by the least-squares affine map taking ``landmarks_from`` to ``landmarks_to``.

    Landmarks are ``(L, 2)`` pixel coordinates; the result is ``(H, W, 3)``.
    """
    size = image.shape[0]
    target = np.c_[_normalised(landmarks_to, size), np.ones(len(landmarks_to))]
    backward, *_ = np.linalg.lstsq(target, _normalised(landmarks_from, size), rcond=None)  # (3, 2): output -> input
    grid = make_coordinate_grid((size, size), torch.float64)
    homogeneous = torch.cat([grid, torch.ones(size, size, 1, dtype=torch.float64)], dim=-1)
    sample_at = (homogeneous @ torch.from_numpy(backward)).float()[None]
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    # The grid puts -1 and 1 on pixel centres: align_corners=True samples it exactly.
    warped = F.grid_sample(tensor, sample_at, align_corners=True, padding_mode="border")
    return warped[0].permute(1, 2, 0).numpy()


def _akd(predicted, truth):
    return float(np.linalg.norm(predicted - truth, axis=-1).mean())


def _animate(engine, source, frames, relative):
    engine.options = MotionOptions(relative=relative)
    engine.set_source(source)
    return np.stack(list(engine.stream(frames)))


def evaluate(
    model: FirstOrderModel,
    num_videos: int = 50,
    num_frames: int = 32,
    batch_size: int = DEFAULT_BATCH_SIZE,
    detector: LandmarkDetector | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """All metrics on ``num_videos`` test videos of ``num_frames`` frames: a dict of floats.

    Landmarks are read by ``detector`` (default: the shipped independent one,
    :func:`~fomm_nb.landmarks.load_landmark_detector`).
    """
    from tqdm.auto import tqdm

    check_range("num_videos", num_videos, low=1)
    check_range("num_frames", num_frames, low=2)  # relative motion needs a frame after the first
    engine = AnimationEngine(model, batch_size=batch_size)
    size = model.image_size
    detector = detector or load_landmark_detector()
    sums = {}

    def add(name, value):
        sums[name] = sums.get(name, 0.0) + value / num_videos

    videos = [make_video(split_seed("test", index), num_frames, size) for index in range(num_videos)]
    # A bar closed on the way out, error or not: an error line then starts a line of its own.
    with tqdm(total=num_videos, unit="video", desc="evaluating", disable=not progress) as bar:
        for index in range(num_videos):
            video, other = videos[index], videos[(index + 1) % num_videos]
            frames, source = video.frames, video.frames[0]
            prediction = _animate(engine, source, frames, relative=False)
            affine = np.stack([affine_warp(source, video.landmarks[0], points) for points in video.landmarks])
            still = np.broadcast_to(source, frames.shape)
            add("akd/ground_truth", _akd(read_landmarks(detector, frames), video.landmarks))
            for name, images in (("model", prediction), ("no_motion", still), ("affine", affine)):
                add(f"reconstruction_l1/{name}", float(np.abs(images - frames).mean()))
                add(f"akd/{name}", _akd(read_landmarks(detector, images), video.landmarks))

            cross_source = render(video.identity, other.poses[0], size)
            truth = other.render_as(video.identity)
            truth_landmarks = np.stack([landmarks(video.identity, pose, size) for pose in other.poses])
            cross_affine = np.stack([affine_warp(cross_source, other.landmarks[0], points) for points in other.landmarks])
            cross = {"relative": _animate(engine, cross_source, other.frames, True),
                     "absolute": _animate(engine, cross_source, other.frames, False),
                     "no_motion": np.broadcast_to(cross_source, truth.shape), "affine": cross_affine}
            for name, images in cross.items():
                add(f"cross_identity_l1/{name}", float(np.abs(images - truth).mean()))
                add(f"cross_identity_akd/{name}", _akd(read_landmarks(detector, images), truth_landmarks))
            bar.update()
    return {"num_videos": num_videos, "num_frames": num_frames, **sums}


def format_report(report: dict[str, float]) -> str:
    """The metrics as a small text table, with the acceptance ratios."""
    lines = [f"{report['num_videos']} held-out procedural videos x {report['num_frames']} frames; AKD in pixels, "
             "read by the independent landmark detector", ""]
    lines.append(f"{'metric':<22}{'model':>10}{'no motion':>11}{'affine':>10}")
    rows = [("reconstruction_l1", "reconstruction_l1/model"), ("akd", "akd/model")]
    for measure in ("cross_identity_l1", "cross_identity_akd"):
        rows += [(f"{measure.replace('identity_', 'id_')} {mode[:3]}", f"{measure}/{mode}") for mode in ("relative", "absolute")]
    for label, key in rows:
        family = key.split("/")[0]
        lines.append(f"{label:<22}{report[key]:>10.4f}{report[f'{family}/no_motion']:>11.4f}{report[f'{family}/affine']:>10.4f}")
    lines += [
        "",
        f"AKD of the detector on the real frames (its floor): {report['akd/ground_truth']:.4f}",
        f"reconstruction L1 / no motion: {report['reconstruction_l1/model'] / report['reconstruction_l1/no_motion']:.3f} (bar: <= 0.5)",
        f"AKD / no motion:               {report['akd/model'] / report['akd/no_motion']:.3f} (bar: <= 0.5)",
        f"cross-identity relative / affine: {report['cross_identity_l1/relative'] / report['cross_identity_l1/affine']:.3f} (bar: < 1)",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="demo", help="model name or checkpoint (procedural-face models)")
    parser.add_argument("--config", help="config for a checkpoint that stores none")
    parser.add_argument("--videos", type=int_option(1), default=50, help="held-out videos")
    parser.add_argument("--frames", type=int_option(2), default=32, help="frames per video")
    parser.add_argument("--json", help="also write the metrics to this JSON file")
    parser.add_argument("--device", type=device_option, help="cpu or cuda")
    parser.add_argument("--smooth", nargs="*", choices=FILTERS, metavar="FILTER",
                        help="instead: jitter, L1, AKD and lag with these filters (none given: all) and without, "
                             "on clean and on webcam-degraded driving frames")


def run(args: argparse.Namespace) -> None:
    from .hub import get_model

    check_outputs([Output("--json", args.json, (".json",))], {"--model": args.model, "--config": args.config})
    model = get_model(args.model, config=args.config, device=args.device)
    with torch.inference_mode():
        if args.smooth is not None:  # the smoothing table (fomm_nb.tracks.evaluation)
            report = evaluate_smoothing(model, named_filters(args.smooth), args.videos, args.frames, progress=True)
        else:
            report = evaluate(model, num_videos=args.videos, num_frames=args.frames, progress=True)
    print(format_report(report) if args.smooth is None else format_smoothing_table(report))
    if args.json:
        write_text_atomically(args.json, json.dumps(report, indent=2))
