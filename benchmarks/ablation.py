"""What each idea is worth: the engine's optimisations added one at a time, timed interleaved.

Each row adds one idea to the row above and prints its speed-up over the
published per-frame loop (median over rounds of the per-round ratio) and
the largest difference of its frames from the loop's.

    .venv/bin/python benchmarks/ablation.py                 # vox-256
    .venv/bin/python benchmarks/ablation.py --model small --rounds 9 --frames 64
"""

import argparse

import numpy as np
import torch

import fomm_nb.optimize as optimize
from common import ReferenceLoop, interleaved_seconds, load_benchmark_model, machine, median_ratio, synthetic_clip
from fomm_nb.animate import AnimationEngine

NO_PHASES = 1 << 30  # PHASE_MIN_SIZE that sends every up block through upsampling


def stage_engine(model, batch_size, network=None, **options):
    """An engine; ``network`` replaces its inference copy (for the stages the engine has no switch for)."""
    engine = AnimationEngine(model, batch_size, optimize=network is not False, **options)
    if network not in (None, False):
        engine.network, engine._animate = network, network.generator.animate
    return engine


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vox", choices=["vox", "small"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8, help="frames per timed call")
    args = parser.parse_args()
    print(machine())
    label, model = load_benchmark_model(args.model)
    batch = args.batch_size
    source, frames = synthetic_clip(model.image_size, args.frames)
    frames = np.stack(list(frames))
    reference = ReferenceLoop(model, source, frames)
    expected = np.stack(reference.animate())

    folded = optimize.optimize_for_inference(model, channels_last=False, winograd=False)
    nhwc = optimize.optimize_for_inference(model, winograd=False)
    stages = [  # (title, engine, PHASE_MIN_SIZE)
        ("source encoded once, batch 1", stage_engine(model, 1, network=False, workers=1), NO_PHASES),
        (f"+ frames batched ({batch})", stage_engine(model, batch, network=False, workers=1), NO_PHASES),
        ("+ BatchNorm folded, ReLU in place", stage_engine(model, batch, network=folded, workers=1), NO_PHASES),
        ("+ channels_last", stage_engine(model, batch, network=nhwc, workers=1), NO_PHASES),
        ("+ up blocks without upsampling", stage_engine(model, batch, network=nhwc, workers=1), optimize.PHASE_MIN_SIZE),
        ("+ Winograd F(4x4, 3x3)", stage_engine(model, batch, workers=1), optimize.PHASE_MIN_SIZE),
        ("+ 2 workers of 1 thread (the default)", stage_engine(model, batch, workers=2), optimize.PHASE_MIN_SIZE),
        ("(bfloat16 autocast, approximate)", stage_engine(model, batch, precision="bfloat16"), optimize.PHASE_MIN_SIZE),
    ]

    def run(engine, phase_min_size):
        optimize.PHASE_MIN_SIZE = phase_min_size
        engine.set_source(source)
        return np.stack(list(engine.stream(frames)))

    differences = [float(np.abs(run(engine, size) - expected).max()) for _, engine, size in stages]
    functions = {"reference": reference.animate}
    functions.update({title: (lambda e=engine, s=size: run(e, s)) for title, engine, size in stages})
    times = interleaved_seconds(functions, args.rounds)
    count = args.frames
    print(f"\n== {label}: {model.image_size}x{model.image_size}, {args.rounds} rounds of {count} frames")
    print(f"{'published loop':38s} {count / np.median(times['reference']):6.2f} fps")
    for (title, _, _), difference in zip(stages, differences):
        ratio = median_ratio(times["reference"], times[title])
        print(f"{title:38s} {count / np.median(times[title]):6.2f} fps  {ratio:5.2f}x  |difference| {difference:.1e}")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
