"""Engine speed by batch size: the measurement behind ``fomm_nb.DEFAULT_BATCH_SIZE``.

For each model, the same driving clip is streamed through one engine per
batch size (the engine's own thread settings: ``workers`` share each batch),
in interleaved rounds; it prints frames per second and the median ratio to
the current default in each round.

    .venv/bin/python benchmarks/batch_size.py                       # bundled model and vox-256, CPU
    .venv/bin/python benchmarks/batch_size.py --models small --frames 32 --rounds 5
"""

import argparse
import statistics

from common import interleaved_seconds, load_benchmark_model, machine, median_ratio, synthetic_clip
from fomm_nb import DEFAULT_BATCH_SIZE
from fomm_nb.animate import AnimationEngine


def measure(name, sizes, num_frames, rounds):
    label, model = load_benchmark_model(name)
    source, frames = synthetic_clip(model.image_size, num_frames)
    frames = list(frames)
    engines = {}
    for size in sizes:
        engines[size] = AnimationEngine(model, batch_size=size)
        engines[size].set_source(source)

    def streamer(engine):
        return lambda: sum(1 for _ in engine.stream(frames))

    functions = {size: streamer(engine) for size, engine in engines.items()}
    for function in functions.values():  # warm-up: first calls allocate
        function()
    times = interleaved_seconds(functions, rounds)
    print(f"\n== {label}: {model.image_size}x{model.image_size}, {num_frames} frames, {rounds} rounds, "
          f"workers {engines[sizes[0]].workers}")
    base = DEFAULT_BATCH_SIZE if DEFAULT_BATCH_SIZE in times else sizes[0]
    for size in sizes:
        fps = num_frames / statistics.median(times[size])
        speedup = median_ratio(times[base], times[size])
        print(f"batch {size:>3}: {fps:7.2f} frames/s   x{speedup:.2f} of batch {base}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "vox"], choices=["small", "vox"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--frames", type=int, default=16, help="driving frames per run (a multiple of every size)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    for name in args.models:
        measure(name, args.sizes, args.frames, args.rounds)


if __name__ == "__main__":
    main()
