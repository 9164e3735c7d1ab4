"""Streaming memory: peak memory of animating 100 and 400 synthetic frames stays flat.

Each run is a fresh process that animates ``N`` frames produced one at a
time (never a whole video in memory) through ``AnimationEngine.stream`` and
drops each output frame, as a video writer would; it reports the peak
resident memory above its level before animating. For contrast, the
published loop (whole driving video and every prediction in memory) runs
on the small model, where it is quick.

    .venv/bin/python benchmarks/streaming.py                  # bundled model and vox-256, 100 and 400 frames
    .venv/bin/python benchmarks/streaming.py --models small --frames 100 400 1600
"""

import argparse
import json

from common import animation_peak_mb, in_fresh_process, load_benchmark_model, machine
from fomm_nb.animate import AnimationEngine


def child(args):
    """In a fresh process: animate ``args.count`` frames by ``args.path``; print the peak as JSON."""
    _, model = load_benchmark_model(args.models[0])

    def make_engine(model, source):
        engine = AnimationEngine(model)
        engine.set_source(source)
        return engine

    print(json.dumps({"rss_mb": animation_peak_mb(model, args.path, args.count, make_engine)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "vox"], choices=["vox", "small"])
    parser.add_argument("--frames", nargs="+", type=int, default=[100, 400])
    parser.add_argument("--path", choices=["reference", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:
        return child(args)
    print(machine())
    for name in args.models:
        label, model = load_benchmark_model(name)
        frame_mb = model.image_size**2 * 3 * 4 / 2**20
        print(f"\n== {label}: {model.image_size}x{model.image_size}; one float32 frame is {frame_mb:.2f} MB")
        paths = ["engine", "reference"] if name == "small" else ["engine"]
        for path in paths:
            for count in args.frames:
                result = in_fresh_process(__file__, "--models", name, "--path", path, "--count", count)
                title = "fomm_nb engine, streamed" if path == "engine" else "published loop, all in memory"
                print(f"{title:32s} {count:5d} frames: peak +{result['rss_mb']:.0f} MB resident")


if __name__ == "__main__":
    main()
