"""Peak memory: the published loop against the engine, for 8, 32 and 128 frames.

Each run is a fresh process: it loads the model, then measures its peak
resident memory above that level while one path animates ``N`` synthetic
frames (the engine's set-up, its inference copy of the model included).
The published loop holds the whole driving video and every prediction, as
the demo does; the engine streams frames in and out, so its peak should not
grow with ``N``.

    .venv/bin/python benchmarks/memory.py                       # vox-256 (random weights), 32 frames
    .venv/bin/python benchmarks/memory.py --frames 8 32 128 --batch-sizes 1 4
"""

import argparse
import json

from common import animation_peak_mb, in_fresh_process, load_benchmark_model, machine
from fomm_nb.animate import AnimationEngine


def child(args):
    """In a fresh process: the peak of ``args.path`` over ``args.count`` frames, as JSON."""
    _, model = load_benchmark_model(args.model)

    def make_engine(model, source):
        engine = AnimationEngine(model, args.batch, workers=args.workers)
        engine.set_source(source)
        return engine

    print(json.dumps({"rss_mb": animation_peak_mb(model, args.path, args.count, make_engine)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vox", choices=["vox", "small"])
    parser.add_argument("--frames", nargs="+", type=int, default=[32])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[4])
    parser.add_argument("--workers", type=int, help="the engine's workers (default: the engine's)")
    parser.add_argument("--path", choices=["reference", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:
        return child(args)
    print(machine())
    workers = ["--workers", args.workers] if args.workers else []
    for count in args.frames:
        common = ["--model", args.model, "--count", count]
        reference = in_fresh_process(__file__, *common, "--path", "reference")["rss_mb"]
        print(f"\n{args.model}, {count} frames: published loop peak +{reference:.0f} MB")
        for batch in args.batch_sizes:
            engine = in_fresh_process(__file__, *common, "--path", "engine", "--batch", batch, *workers)["rss_mb"]
            print(f"  engine, batch {batch}: peak +{engine:.0f} MB = {engine / reference:.2f}x the published loop")


if __name__ == "__main__":
    main()
