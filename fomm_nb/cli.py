"""The ``fomm-nb`` command.

    fomm-nb demo                                  animate the bundled sample, offline
    fomm-nb animate --source IMG --driving VIDEO --model vox --out result.mp4
    fomm-nb animate --source IMG --driving VIDEO --crop face --crop-picture crops.png --best-frame
    fomm-nb animate --source PHOTO --driving VIDEO --model vox --crop face --paste-back --out whole.mp4
    fomm-nb animate --source IMG --driving VIDEO --model vox --explain-speed   what the autotuner chose, and why
    fomm-nb models                                list the known models
    fomm-nb train --config CFG --data procedural  train a model
    fomm-nb evaluate --model demo                 metrics on held-out procedural videos
    fomm-nb train-landmarks --out FILE            train the landmark detector that evaluate reads AKD with

Errors in the user's input (an unknown option, a number out of range, a
bad file, an output that would overwrite an input) print one line and exit
with status 2, before any work. Ctrl-C (SIGINT) exits with status 130 and
SIGTERM with 143 (128 + the signal's number, as shells report it); both
leave nothing behind: outputs appear only when complete.
"""

import argparse
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager

from .arguments import device_option, int_option
from .config import DEFAULT_BATCH_SIZE
from .errors import FommError, InputError
from .outputs import PICTURE_SUFFIXES, VIDEO_SUFFIXES, Output, check_outputs
from .tracks import command as tracks_command

__all__ = ["EXIT_USAGE", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "Terminated", "build_parser", "main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that the same clean-up as for Ctrl-C runs."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``fomm-nb: error: ...``) and exit status 2."""

    def error(self, message: str) -> None:
        command = self.prog.removeprefix("fomm-nb").strip()
        where = f"{command}: " if command else ""
        print(f"fomm-nb: error: {where}{message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(EXIT_USAGE)




def _add_animate_arguments(parser):
    parser.add_argument("--source", required=True, help="source image (png, jpg, webp)")
    parser.add_argument("--driving", help="driving video (mp4, gif, webm, mov, folder of frames)")
    tracks_command.add_animate_arguments(parser)  # --motion, --smooth
    parser.add_argument("--model", default="demo", help="model name (see 'fomm-nb models') or a .pth.tar file")
    parser.add_argument("--config", help="config name or YAML file (for a checkpoint that stores none)")
    parser.add_argument("--mode", choices=["relative", "absolute"], default="relative", help="motion transfer")
    parser.add_argument("--adapt-scale", action="store_true", help="adapt movement scale to the source's size")
    parser.add_argument("--crop", choices=["crop", "pad", "stretch", "face"], default="crop",
                        help="how frames become square: centre crop, pad, stretch, or cut around the face")
    parser.add_argument("--crop-picture", metavar="PATH", help="also write a picture of the crops (png, jpg, svg, pdf)")
    parser.add_argument("--best-frame", nargs="?", const="keypoints", default=False, choices=["keypoints", "landmarks"],
                        help="start the motion from the driving frame closest in pose to the source, found by the "
                             "model's keypoints (default) or face landmarks (needs face_alignment)")
    parser.add_argument("--paste-back", action="store_true",
                        help="put the animated crop back into the whole photo: a video of the photo's size "
                             "(at most 1920 pixels on its longer side), the photo's pixels outside the crop box")
    parser.add_argument("--out", default="result.mp4", help="output video (.mp4 or .gif)")
    parser.add_argument("--side-by-side", help="also write source | driving | result to this video")
    parser.add_argument("--batch-size", type=int_option(1),
                        help=f"driving frames per batch (default: the fastest on this machine, timed once and cached "
                             f"when the video is long enough to pay for it; else {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--workers", type=int_option(1),
                        help="threads each batch is split between (default: the fastest on this machine, as for "
                             "--batch-size; else 2 on CPU, 1 on CUDA)")
    parser.add_argument("--no-autotune", action="store_true",
                        help="do not time the batch size, the workers and each layer's paths on this machine")
    parser.add_argument("--explain-speed", action="store_true",
                        help="print what the autotuner timed and kept: each layer's paths, the workers and batch "
                             "size, the cache file and its key")
    parser.add_argument("--device", type=device_option, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--no-audio", action="store_true", help="do not copy the driving video's audio")


def _run_animate(args):
    from .hub import get_model
    from .motion import MotionOptions
    from .pipeline import animate_files

    if args.explain_speed and args.no_autotune:
        raise InputError("--explain-speed explains the autotuner's choices: leave out --no-autotune")
    if tracks_command.uses_track(args):
        for flag, given in (("--paste-back", args.paste_back), ("--workers", args.workers),
                            ("--explain-speed", args.explain_speed)):
            if given and (args.motion or args.smooth != "none"):
                raise InputError(f"{flag} works with --driving alone, not with --motion or --smooth yet")
        args.batch_size = args.batch_size or DEFAULT_BATCH_SIZE
        return tracks_command.run_animate(args)
    check_outputs(
        [Output("--out", args.out, VIDEO_SUFFIXES), Output("--side-by-side", args.side_by_side, VIDEO_SUFFIXES),
         Output("--crop-picture", args.crop_picture, PICTURE_SUFFIXES)],
        {"--source": args.source, "--driving": args.driving, "--model": args.model, "--config": args.config},
    )
    model = get_model(args.model, config=args.config, device=args.device)
    options = MotionOptions(relative=args.mode == "relative", adapt_movement_scale=args.adapt_scale)
    result = animate_files(
        model,
        args.source,
        args.driving,
        args.out,
        options=options,
        batch_size=args.batch_size,
        crop=args.crop,
        side_by_side_path=args.side_by_side,
        keep_audio=not args.no_audio,
        progress=True,
        crop_picture_path=args.crop_picture,
        best_frame=args.best_frame,
        paste_back=args.paste_back,
        workers=args.workers,
        tune="always" if args.explain_speed else not args.no_autotune,
    )
    if args.explain_speed:
        print(result.tuning.explain())
    if result.best_frame is not None:
        print(f"best frame: {result.best_frame} (the driving frame closest in pose to the source)")
    print(f"wrote {result.video} ({result.num_frames} frames at {result.fps:g} fps)")
    for path in (result.side_by_side, args.crop_picture):
        if path:
            print(f"wrote {path}")


def _run_models(args):
    from .hub import model_table

    print(model_table())


def _add_demo_arguments(parser):
    parser.add_argument("--out", default="fomm-nb-output", help="output folder")
    parser.add_argument("--device", type=device_option, help="cpu or cuda (default: cuda when available)")


def _run_demo(args):
    from .demo import DEMO_FILES, run_demo

    check_outputs([Output("--out", args.out, files=DEMO_FILES)])
    paths = run_demo(args.out, device=args.device)
    for path in paths.values():
        print(f"wrote {path}")
    print(f"open {paths['page']} in a browser to play the videos")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fomm-nb`` with all its subcommands."""
    parser = _Parser(prog="fomm-nb", description="First Order Motion Model: animate a photo by a video.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="animate the bundled sample with the bundled model (offline)")
    _add_demo_arguments(demo)
    demo.set_defaults(run=_run_demo)

    animate = commands.add_parser("animate", help="animate a source image by a driving video")
    _add_animate_arguments(animate)
    animate.set_defaults(run=_run_animate)

    models = commands.add_parser("models", help="list the known models and whether each is present locally")
    models.set_defaults(run=_run_models)

    from . import evaluate, export, serve
    from .landmarks import command as landmarks_command
    from .train import command as train_command

    for name, module, help_text in (
        ("train", train_command, "train a model (procedural faces or a video folder)"),
        ("evaluate", evaluate, "evaluate a model on held-out procedural videos"),
        ("train-landmarks", landmarks_command, "train the independent landmark detector that evaluate measures AKD with"),
        ("export", export, "write the keypoint detector and the generator as ONNX graphs"),
        ("serve", serve, "serve the apps as web pages to a class (Voila, kernels ready ahead)"),
        ("track", tracks_command, "save a driving video's keypoints over time as a motion track (.npz)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


@contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into :class:`Terminated` in the main thread while the block runs (then restore the handler)."""
    def terminate(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(run: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> int:
    """Run a subcommand; a handled error is one line on stderr, with the warnings it raised left out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            run(args)
        except FommError as error:
            print(f"fomm-nb: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    for warning in caught:  # a run that succeeded shows its warnings after all
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fomm-nb`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # a usage error (one line printed, status 2), or --help (0)
        return stop.code
    try:
        with _sigterm_as_interrupt():
            return _run(args.run, args)
    except Terminated:
        print("fomm-nb: terminated; nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("fomm-nb: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
