"""``fomm-nb train-landmarks``: train the independent landmark detector and measure it on held-out renders.

    fomm-nb train-landmarks --out checkpoints/landmarks.pth.tar --threads 1

The checkpoint carries a card: the command, the wall time, the steps, and the
held-out error in pixels under each of :data:`~fomm_nb.landmarks.training.CONDITIONS`.
"""

import argparse
import shlex
import sys
import time

import torch

from ..arguments import float_option, int_option
from ..outputs import Output, check_outputs
from .detector import load_landmark_detector, save_landmark_detector
from .training import CONDITIONS, held_out_errors, train_landmark_detector

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fomm-nb train-landmarks``."""
    parser.add_argument("--out", required=True, help="the detector checkpoint to write (.pth.tar)")
    parser.add_argument("--steps", type=int_option(1), default=12_000, help="training steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int_option(1), default=32, help="frames per step (default %(default)s)")
    parser.add_argument("--frames", type=int_option(1), default=24_000, help="training frames rendered (default %(default)s)")
    parser.add_argument("--width", type=int_option(1, 256), default=32, help="channels of the first block (default %(default)s)")
    parser.add_argument("--fine", action="store_true",
                        help="heatmaps at full resolution (a third up block) instead of half")
    parser.add_argument("--init", metavar="DETECTOR",
                        help="start from this detector's weights (those the new network shares with it)")
    parser.add_argument("--lr", type=float_option(0.0), default=2e-3, help="Adam's learning rate (default %(default)s)")
    parser.add_argument("--degraded-share", type=float_option(0.0, 1.0), default=0.5,
                        help="share of every batch blurred and noised (default %(default)s)")
    parser.add_argument("--max-blur", type=float_option(0.0), default=2.0,
                        help="largest gaussian blur sigma of the degraded frames, pixels (default %(default)s)")
    parser.add_argument("--max-noise", type=float_option(0.0), default=0.04,
                        help="largest noise standard deviation of the degraded frames (default %(default)s)")
    parser.add_argument("--seed", type=int_option(0, 2**32 - 1), default=0, help="weights, frames and batches (default %(default)s)")
    parser.add_argument("--videos", type=int_option(1), default=50, help="held-out videos measured (default %(default)s)")
    parser.add_argument("--threads", type=int_option(1, 1024), help="CPU threads for torch (default: torch's choice)")


def run(args: argparse.Namespace) -> None:
    check_outputs([Output("--out", args.out, (".tar", ".pt", ".pth"))])  # .pth.tar ends in .tar
    if args.threads:
        torch.set_num_threads(args.threads)
    init = load_landmark_detector(args.init) if args.init else None
    start = time.perf_counter()
    detector, log = train_landmark_detector(args.steps, args.batch_size, args.frames, args.width, args.lr, args.seed,
                                            progress=True, degraded_fraction=args.degraded_share,
                                            max_blur=args.max_blur, max_noise=args.max_noise, fine=args.fine, init=init)
    training_seconds = time.perf_counter() - start
    errors = held_out_errors(detector, num_videos=args.videos)
    card = {"command": "fomm-nb " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["train-landmarks"] else "",
            "steps": args.steps, "batch_size": args.batch_size, "frames": args.frames, "seed": args.seed,
            "width": args.width, "degraded_share": args.degraded_share, "max_blur_px": args.max_blur,
            "max_noise": args.max_noise, "fine": args.fine,
            **({"init": str(args.init), "init_command": init.card.get("command", ""),
                "init_training_seconds": init.card.get("training_seconds", 0.0)} if init else {}),
            "threads": torch.get_num_threads(), "training_seconds": round(training_seconds, 1),
            "final_loss_last_100_steps": sum(log["loss"][-100:]) / len(log["loss"][-100:]),
            "held_out_videos": args.videos, "held_out_frames": 32 * args.videos,
            **{f"held_out_error_px/{name}": value for name, value in errors.items()},
            **{f"condition/{name}": f"blur sigma {blur} px, noise std {noise}" for name, (blur, noise) in CONDITIONS.items()}}
    save_landmark_detector(detector, args.out, card)
    print(f"trained {args.steps} steps in {training_seconds / 60:.1f} min; wrote {args.out}")
    print(f"held-out error ({args.videos} test videos x 32 frames, pixels at 64x64):")
    for name, value in errors.items():
        print(f"  {name:<24}{value:.3f}")
