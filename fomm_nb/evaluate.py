"""Evaluation on held-out procedural videos, where every answer is known.

Three measures, each beside two baselines — the source copied unchanged
("no motion") and one global affine warp fitted to the landmarks:

* **Reconstruction L1**: the first frame of a test video animated by the
  whole video (absolute motion) against the real frames.
* **AKD** (average keypoint distance, pixels): landmarks read off the
  generated frames against the rendered ground-truth landmarks. Landmarks are
  read off any image the same way: the model's keypoints, then a linear
  regressor fitted on the training split (:class:`LandmarkRegressor`).
* **Cross-identity L1**: identity A, drawn in the first pose of video B, is
  animated by video B; the ground truth is A rendered in each of B's poses.
  In relative and absolute mode. The affine baseline moves A by the affine
  map between B's first and current landmarks.

Example:
    >>> report = evaluate(get_model("demo"), num_videos=50)  # doctest: +SKIP
    >>> print(format_report(report))  # doctest: +SKIP
"""

import argparse
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .animate import AnimationEngine
from .arguments import check_range, device_option, int_option
from .config import DEFAULT_BATCH_SIZE
from .data.procedural import make_video, render, split_seed
from .geometry import make_coordinate_grid
from .model import FirstOrderModel
from .motion import MotionOptions
from .outputs import Output, check_outputs, write_text_atomically
from .tracks import FILTERS
from .tracks.evaluation import evaluate_smoothing, format_smoothing_table, named_filters

__all__ = ["affine_warp", "LandmarkRegressor", "evaluate", "format_report", "add_arguments", "run"]


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


@dataclass
class LandmarkRegressor:
    """A linear map from detected keypoints ``(K, 2)`` to landmarks ``(L, 2)`` in pixels."""

    weights: np.ndarray  # (2K + 1, 2L)

    @classmethod
    def fit(
        cls, engine: AnimationEngine, num_videos: int = 40, frames_per_video: int = 8, ridge: float = 1e-3
    ) -> "LandmarkRegressor":
        """Fit on training-split videos by ridge regression."""
        size = engine.model.image_size
        features, targets = [], []
        for index in range(num_videos):
            video = make_video(split_seed("train", index), frames_per_video, size)
            features.append(_features(engine.detect(video.frames)))
            targets.append(video.landmarks.reshape(frames_per_video, -1))
        x, y = np.concatenate(features), np.concatenate(targets)
        gram = x.T @ x + ridge * np.eye(x.shape[1])
        return cls(np.linalg.solve(gram, x.T @ y))

    def predict(self, engine: AnimationEngine, images: np.ndarray) -> np.ndarray:
        """Landmarks ``(T, L, 2)`` read off ``images`` ``(T, H, W, 3)``."""
        return (_features(engine.detect(np.asarray(images))) @ self.weights).reshape(len(images), -1, 2)


def _features(kp):
    values = kp["value"].cpu().double().numpy().reshape(kp["value"].shape[0], -1)
    return np.c_[values, np.ones(len(values))]


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
    regressor: LandmarkRegressor | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """All metrics on ``num_videos`` test videos of ``num_frames`` frames: a dict of floats."""
    check_range("num_videos", num_videos, low=1)
    check_range("num_frames", num_frames, low=2)  # relative motion needs a frame after the first
    engine = AnimationEngine(model, batch_size=batch_size)
    size = model.image_size
    regressor = regressor or LandmarkRegressor.fit(engine)
    sums = {}

    def add(name, value):
        sums[name] = sums.get(name, 0.0) + value / num_videos

    videos = [make_video(split_seed("test", index), num_frames, size) for index in range(num_videos)]
    indices = range(num_videos)
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, unit="video", desc="evaluating")
    for index in indices:
        video, other = videos[index], videos[(index + 1) % num_videos]
        frames, source = video.frames, video.frames[0]
        prediction = _animate(engine, source, frames, relative=False)
        affine = np.stack([affine_warp(source, video.landmarks[0], points) for points in video.landmarks])
        still = np.broadcast_to(source, frames.shape)
        for name, images in (("model", prediction), ("no_motion", still), ("affine", affine)):
            add(f"reconstruction_l1/{name}", float(np.abs(images - frames).mean()))
            add(f"akd/{name}", _akd(regressor.predict(engine, images), video.landmarks))

        cross_source = render(video.identity, other.poses[0], size)
        truth = other.render_as(video.identity)
        for mode, relative in (("relative", True), ("absolute", False)):
            images = _animate(engine, cross_source, other.frames, relative)
            add(f"cross_identity_l1/{mode}", float(np.abs(images - truth).mean()))
        add("cross_identity_l1/no_motion", float(np.abs(cross_source - truth).mean()))
        cross_affine = np.stack([affine_warp(cross_source, other.landmarks[0], points) for points in other.landmarks])
        add("cross_identity_l1/affine", float(np.abs(cross_affine - truth).mean()))
    return {"num_videos": num_videos, "num_frames": num_frames, **sums}


def format_report(report: dict[str, float]) -> str:
    """The metrics as a small text table, with the acceptance ratios."""
    lines = [f"{report['num_videos']} held-out procedural videos x {report['num_frames']} frames", ""]
    lines.append(f"{'metric':<22}{'model':>10}{'no motion':>11}{'affine':>10}")
    for metric in ("reconstruction_l1", "akd"):
        lines.append(
            f"{metric:<22}{report[f'{metric}/model']:>10.4f}{report[f'{metric}/no_motion']:>11.4f}{report[f'{metric}/affine']:>10.4f}"
        )
    for mode in ("relative", "absolute"):
        lines.append(
            f"{'cross_id_l1 ' + mode:<22}{report[f'cross_identity_l1/{mode}']:>10.4f}"
            f"{report['cross_identity_l1/no_motion']:>11.4f}{report['cross_identity_l1/affine']:>10.4f}"
        )
    lines += [
        "",
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
