"""Animation speed: the published per-frame loop against fomm_nb's engine, on the same weights.

For each model it prints frames per second of both paths and their ratio,
the largest absolute difference of their frames, GFLOP per frame and the
GFLOP/s achieved, peak memory (each path in a fresh process), the bound
that this machine's GEMM peak sets for exact outputs, and the keypoint
explorer's update latency. Timings are medians of interleaved rounds.

    .venv/bin/python benchmarks/speed.py                    # vox-256 and the bundled model, CPU
    .venv/bin/python benchmarks/speed.py --models small --rounds 9
    .venv/bin/python benchmarks/speed.py --device cuda --precision float16 --batch-size 16   # GPU path
    .venv/bin/python benchmarks/speed.py --device cuda --precision float16 --compile reduce-overhead
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from common import (
    PeakMemory,
    ReferenceLoop,
    gemm_peak,
    gflop,
    in_fresh_process,
    interleaved_seconds,
    load_benchmark_model,
    machine,
    median_ratio,
    median_seconds,
    synthetic_clip,
)
from fomm_nb.animate import PRECISIONS, AnimationEngine


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def memory_child(args):
    """In a fresh process: peak memory of one path animating ``args.frames`` frames, as JSON."""
    _, model = load_benchmark_model(args.models[0], args.device)
    source, frames = synthetic_clip(model.image_size, args.frames)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakMemory() as peak:
        if args.memory == "reference":
            frames = np.stack(list(frames))
            ReferenceLoop(model, source, frames[0]).animate(frames)
        else:
            engine = _engine(model, args)
            engine.set_source(source)
            for _ in engine.stream(frames):
                pass
    cuda_mb = torch.cuda.max_memory_allocated() / 2**20 if model.device.type == "cuda" else None
    print(json.dumps({"rss_mb": peak.peak_mb, "cuda_mb": cuda_mb}))


def _engine(model, args, **overrides):
    settings = {"precision": args.precision, "num_threads": args.engine_threads, "workers": args.workers}
    return AnimationEngine(model, args.batch_size, compile=args.compile or False, **{**settings, **overrides})


def _memory(args, name, path):
    flags = ["--models", name, "--device", args.device, "--precision", args.precision, "--batch-size", args.batch_size]
    flags += ["--threads", args.threads] if args.threads else []
    flags += ["--engine-threads", args.engine_threads] if args.engine_threads else []
    flags += ["--workers", args.workers] if args.workers else []
    flags += ["--compile", args.compile] if isinstance(args.compile, str) else ["--compile"] if args.compile else []
    result = in_fresh_process(__file__, "--memory", path, "--frames", 2 * args.batch_size, *flags)
    cuda = f", CUDA peak {result['cuda_mb']:.0f} MB" if result["cuda_mb"] is not None else ""
    return f"+{result['rss_mb']:.0f} MB resident{cuda}"


def measure(name, args, peak):
    label, model = load_benchmark_model(name, args.device)
    device, size, batch = model.device, model.image_size, args.batch_size
    source, frames = synthetic_clip(size, 2 * batch)
    frames = np.stack(list(frames))
    start = time.perf_counter()
    engine = _engine(model, args)
    engine.set_source(source)
    setup = time.perf_counter() - start
    threads = f"{args.engine_threads or torch.get_num_threads()} threads in {engine.workers} workers"
    print(f"\n== {label}: {size}x{size}, {args.device}, {args.precision}, engine batch {batch}, {threads}")
    print(f"engine set-up (inference copy, source encoding): {setup:.2f} s, once per model")

    reference = ReferenceLoop(model, source, frames[0])
    expected = reference.animate(frames)
    actual = np.stack(list(engine.stream(frames)))
    difference = float(np.abs(actual - expected).max())

    reference_gflop = gflop(lambda: reference.frame(frames[1]))
    counted = _engine(model, args, workers=1)  # the FLOP counter sees this thread only
    counted.set_source(source)
    engine_gflop = gflop(lambda: counted.animate_batch(frames[:batch])) / batch
    cached = _engine(model, args, optimize=False, workers=1)
    cached.set_source(source)
    cached_gflop = gflop(lambda: cached.animate_batch(frames[:batch])) / batch
    del counted, cached

    def run_reference():
        for image in frames[:batch]:
            reference.frame(image)

    def run_engine():
        for _ in engine.stream(frames[:batch]):
            pass

    run_reference(), run_engine()
    times = interleaved_seconds({"reference": run_reference, "engine": run_engine}, args.rounds)
    reference_fps, engine_fps = (batch / statistics.median(times[path]) for path in ("reference", "engine"))
    speed_up = median_ratio(times["reference"], times["engine"])

    kp_norm = {key: value[:1] for key, value in engine.animate_batch(frames[:1], return_intermediates=True)["kp_norm"].items()}

    def explorer_update():
        engine.animate_keypoints(kp_norm)
        _synchronize(device)

    def reference_update():
        with torch.no_grad():
            model.generator(reference.source, kp_source=reference.kp_source, kp_driving=kp_norm)
        _synchronize(device)

    explorer_update(), reference_update()
    latency = median_seconds({"engine": explorer_update, "reference": reference_update}, 3 * args.rounds)

    rows = (
        ("reference (published loop)", reference_fps, reference_gflop, _memory(args, name, "reference")),
        ("fomm_nb engine", engine_fps, engine_gflop, _memory(args, name, "engine")),
    )
    for title, fps, work, memory in rows:
        print(f"{title:28s} {fps:7.2f} fps  {work:7.2f} GFLOP/frame  {work * fps:6.1f} GFLOP/s  peak {memory}")
    print(f"speed-up {speed_up:.2f}x (median of {args.rounds} interleaved rounds); largest |difference| {difference:.1e}")
    if device.type == "cpu" and args.precision == "float32":
        bound = peak / cached_gflop
        print(
            f"bound for exact outputs by the direct algorithm: {cached_gflop:.1f} GFLOP/frame after caching at the "
            f"{peak:.0f} GFLOP/s GEMM peak = {bound:.2f} fps ({bound / reference_fps:.2f}x the reference); the engine "
            f"reaches {engine_fps / bound:.2f}x that bound by doing {cached_gflop / engine_gflop:.1f}x fewer GFLOP"
        )
    print(
        f"keypoint explorer update (one frame, source cached): {1e3 * latency['engine']:.1f} ms "
        f"(the published generator call: {1e3 * latency['reference']:.1f} ms)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["vox", "small"], choices=["vox", "small"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32", choices=list(PRECISIONS))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (medians are reported)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads for both paths (default: torch's)")
    parser.add_argument("--engine-threads", type=int, help="the engine's num_threads (default: --threads)")
    parser.add_argument("--workers", type=int, help="the engine's workers (default: the engine's)")
    parser.add_argument("--compile", nargs="?", const=True, help="torch.compile the generator (optionally: a mode)")
    parser.add_argument("--memory", choices=["reference", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory:
        return memory_child(args)
    print(machine())
    peak = gemm_peak() if args.device == "cpu" else None
    if peak is not None:
        print(f"single-precision GEMM peak (torch.mm 2048^3, best of 7): {peak:.0f} GFLOP/s")
    for name in args.models:
        measure(name, args, peak)
    print(f"\nload average at the end: {', '.join(f'{value:.1f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
