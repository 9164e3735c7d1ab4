"""``fomm-nb track`` and the motion-track options of ``fomm-nb animate``.

    fomm-nb track --driving talk.mp4 --model vox --out motion.npz [--smooth one-euro] [--json motion.json]
    fomm-nb animate --source me.jpg --motion motion.npz --model vox --out result.mp4
    fomm-nb animate --source me.jpg --driving talk.mp4 --smooth one-euro --out result.mp4

``animate --motion`` replays a saved track without the video; ``animate
--smooth`` tracks the driving video first, smooths the track and replays it.
"""

import argparse

from ..arguments import device_option, int_option
from ..config import DEFAULT_BATCH_SIZE
from ..errors import InputError
from ..outputs import VIDEO_SUFFIXES, Output, check_outputs
from .filters import DEFAULT_SMOOTHING, FILTERS

__all__ = ["SMOOTHING_CHOICES", "add_arguments", "run", "add_animate_arguments", "run_animate"]

#: What ``--smooth`` accepts.
SMOOTHING_CHOICES = ("none", *FILTERS)

_SMOOTH_HELP = (f"smooth the keypoints over time; --smooth alone means {DEFAULT_SMOOTHING}, the filter chosen by "
                "benchmarks/smoothing.py (see the README's table)")


def _add_smooth_argument(parser: argparse.ArgumentParser) -> None:
    """``--smooth [FILTER]``: ``none`` when absent, :data:`~fomm_nb.tracks.filters.DEFAULT_SMOOTHING` when bare."""
    parser.add_argument("--smooth", nargs="?", choices=SMOOTHING_CHOICES, default="none", const=DEFAULT_SMOOTHING,
                        help=_SMOOTH_HELP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fomm-nb track``."""
    parser.add_argument("--driving", required=True, help="driving video (mp4, gif, webm, mov, folder of frames)")
    parser.add_argument("--model", default="demo", help="model name (see 'fomm-nb models') or a .pth.tar file")
    parser.add_argument("--config", help="config name or YAML file (for a checkpoint that stores none)")
    parser.add_argument("--out", default="motion.npz", help="the track (.npz)")
    parser.add_argument("--json", metavar="PATH", help="also export the track as JSON")
    _add_smooth_argument(parser)
    parser.add_argument("--crop", choices=["crop", "pad", "stretch", "face"], default="crop",
                        help="how frames become square, as in 'fomm-nb animate'")
    parser.add_argument("--batch-size", type=int_option(1), default=DEFAULT_BATCH_SIZE, help="driving frames per batch")
    parser.add_argument("--device", type=device_option, help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def run(args: argparse.Namespace) -> None:
    """Track the driving video into ``--out`` (and ``--json``)."""
    from ..hub import get_model
    from .replay import track_video

    check_outputs([Output("--out", args.out, (".npz",)), Output("--json", args.json, (".json",))],
                  {"--driving": args.driving, "--model": args.model, "--config": args.config})
    model = get_model(args.model, config=args.config, device=args.device)
    track = track_video(model, args.driving, args.crop, args.batch_size, args.smooth, progress=True)
    for path in filter(None, (track.save(args.out), args.json and track.to_json(args.json))):
        print(f"wrote {path} ({len(track)} frames, {track.num_kp} keypoints at {track.fps:g} fps)")


def add_animate_arguments(parser: argparse.ArgumentParser) -> None:
    """``--motion`` and ``--smooth`` for ``fomm-nb animate``."""
    parser.add_argument("--motion", metavar="TRACK", help="replay a motion track (.npz from 'fomm-nb track') instead of --driving")
    _add_smooth_argument(parser)


def uses_track(args: argparse.Namespace) -> bool:
    """Whether ``fomm-nb animate`` goes through a track: ``--motion``, ``--smooth``, or no ``--driving`` (an error)."""
    return bool(args.motion) or args.smooth != "none" or not args.driving


def run_animate(args: argparse.Namespace) -> None:
    """``fomm-nb animate`` by a saved track (``--motion``) or by the smoothed track of ``--driving``."""
    from ..animate import MotionOptions
    from ..hub import get_model
    from ..media import mux_audio
    from .filters import smooth
    from .replay import replay_track, track_video
    from .track import MotionTrack

    if bool(args.motion) == bool(args.driving):
        raise InputError("give the motion by --driving VIDEO or by --motion TRACK (one of them)")
    for option in ("side_by_side", "crop_picture", "best_frame"):
        if getattr(args, option):
            raise InputError(f"--{option.replace('_', '-')} needs the driving video as it is: not with --motion or --smooth")
    check_outputs([Output("--out", args.out, VIDEO_SUFFIXES)],
                  {"--source": args.source, "--driving": args.driving, "--motion": args.motion, "--model": args.model,
                   "--config": args.config})
    model = get_model(args.model, config=args.config, device=args.device)
    if args.motion:
        track = smooth(MotionTrack.load(args.motion, model=model), args.smooth)
    else:
        track = track_video(model, args.driving, args.crop, args.batch_size, args.smooth, progress=True)
    options = MotionOptions(relative=args.mode == "relative", adapt_movement_scale=args.adapt_scale)
    video = replay_track(model, args.source, track, args.out, options, args.crop, args.batch_size, progress=True)
    if args.driving and not args.no_audio:
        mux_audio(video, args.driving, video)  # the driving video's sound, if it has one
    print(f"wrote {video} ({len(track)} frames at {track.fps:g} fps)")
