"""Animation speed: the published per-frame loop, ONNX Runtime and fomm_nb's engine, on the same weights.

For each model it prints frames per second of each path and the engine's
ratio to each reference (ONNX Runtime twice: the whole exported generator
for every frame, and the split graphs with the source encoded once), the
largest absolute difference of their frames, GFLOP per frame and the
GFLOP/s achieved, peak memory for 32 frames (each path in a fresh process,
from after the model is loaded), the bound that this machine's GEMM peak
sets for exact outputs, and the keypoint explorer's update latency.
Timings are medians of interleaved rounds.

``--isa native,avx2`` runs the whole comparison once per instruction set,
each in a child process: ``avx2`` sets ``ATEN_CPU_CAPABILITY=avx2``,
``ONEDNN_MAX_CPU_ISA=AVX2`` and ``MKL_ENABLE_INSTRUCTIONS=AVX2`` (torch's own
kernels, oneDNN's convolutions, MKL's GEMM), as on an AVX2 machine. ONNX
Runtime has no such switch: it runs only under the native ISA.

    .venv/bin/python benchmarks/speed.py                    # vox-256 and the bundled model, CPU
    .venv/bin/python benchmarks/speed.py --models vox --isa native,avx2
    .venv/bin/python benchmarks/speed.py --models small --rounds 9
    .venv/bin/python benchmarks/speed.py --models vox --explain-speed     # autotuned; each layer's path
    .venv/bin/python benchmarks/speed.py --models vox --tune-engine --batch-size 8 --explain-speed   # workers, batch too
    .venv/bin/python benchmarks/speed.py --device cuda --precision float16 --batch-size 16   # GPU path
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from common import (
    OnnxLoop,
    ReferenceLoop,
    animation_peak_mb,
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
from fomm_nb.autotune import autotune, tunable_layers, tune_engine
from fomm_nb.optimize import UpsampledConvReLU
from fomm_nb.winograd import FUSED

#: The environment of each ``--isa`` choice (``native``: none of these set).
ISA_ENVIRONMENTS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
_ISA_CHILD = "FOMM_NB_SPEED_ISA"
#: The ONNX Runtime paths: ``{path: (row title, name in the speed-up line)}``.
ONNX_PATHS = {
    "onnx": ("ONNX Runtime, exported graphs", "ONNX Runtime"),
    "onnx-encoded": ("ONNX Runtime, source encoded once", "ONNX Runtime (source encoded once)"),
}


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def memory_child(args):
    """In a fresh process: peak memory of one path animating ``args.frames`` frames, as JSON."""
    _, model = load_benchmark_model(args.models[0], args.device)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def make_engine(model, source):
        return _tuned_engine(model, source, args)[0]

    rss_mb = animation_peak_mb(model, args.memory, args.frames, make_engine)
    cuda_mb = torch.cuda.max_memory_allocated() / 2**20 if model.device.type == "cuda" else None
    print(json.dumps({"rss_mb": rss_mb, "cuda_mb": cuda_mb}))


def _tuned_engine(model, source, args):
    """``(engine, tuning or None)``: the engine for ``source``, its layers autotuned (and its settings, with --tune-engine)."""
    if args.tune_engine:
        return tune_engine(model, source, workers=args.workers, num_threads=args.engine_threads)
    engine = _engine(model, args)
    engine.set_source(source)
    return engine, autotune(engine) if args.autotune or args.explain_speed else None


def _engine(model, args, **overrides):
    settings = {"precision": args.precision, "num_threads": args.engine_threads, "workers": args.workers}
    return AnimationEngine(model, args.batch_size, compile=args.compile or False, **{**settings, **overrides})


def layer_gflop(module, shape, path):
    """``(direct, own)`` GFLOP of a tunable layer on input ``shape`` ``(B, C, H, W)`` by ``path``.

    ``direct``: the direct convolution's (what the published model computes,
    the upsampled input's for an up block); ``own``: what ``path`` multiplies
    (Winograd: its batched GEMM, both transforms, as one GEMM each or fused
    and separable, and the kernel's, made at every call; the sub-pixel form: four 2x2 phase kernels on the small input).
    """
    batch, channels, height, width = shape
    conv = module.conv
    r, pad, out_channels = conv.kernel_size[0], conv.padding[0], conv.out_channels
    if isinstance(module, UpsampledConvReLU):
        height, width = 2 * height, 2 * width
    out_height, out_width = height + 2 * pad - r + 1, width + 2 * pad - r + 1
    direct = 2 * batch * channels * out_channels * r * r * out_height * out_width
    if path.removesuffix(FUSED) in getattr(module, "tilings", {}):
        tiling = module.tilings[path.removesuffix(FUSED)]
        tile, alpha = tiling.tile, tiling.alpha
        tiles = batch * -(-out_height // tile) * -(-out_width // tile)
        if path.endswith(FUSED):  # separable: down the columns, then along the rows (zero entries multiplied too)
            transforms = 2 * alpha**3 * channels + (tile * alpha**2 + tile**2 * alpha) * out_channels
        else:  # one GEMM each with the Kronecker products of the matrices
            transforms = alpha**4 * channels + tile**2 * alpha**2 * out_channels
        own = 2 * (tiles * (alpha**2 * channels * out_channels + transforms) + alpha**2 * r * r * channels * out_channels)
    elif path == "sub-pixel":
        own = 2 * batch * channels * 4 * out_channels * 4 * (height // 2) * (width // 2)
    else:
        own = direct
    return direct / 1e9, own / 1e9


def path_bounds(engine, tuning, peak):
    """Lines: for each path kept, its layers' time and GFLOP/s (direct-equivalent and its own) against ``peak``."""
    modules = tunable_layers(engine.network)
    totals = {}  # path -> [layers, seconds, direct GFLOP, own GFLOP]
    for name, layer in tuning.layers.items():
        direct, own = layer_gflop(modules[name], layer.shape, layer.kept)
        total = totals.setdefault(layer.kept, [0, 0.0, 0.0, 0.0])
        for index, value in enumerate((1, layer.seconds[layer.kept], direct, own)):
            total[index] += value
    seconds = sum(total[1] for total in totals.values())
    lines = [f"each path against the {peak:.0f} GFLOP/s GEMM peak (the layers it was kept for, timed alone by the "
             f"autotuner; direct-equivalent: the direct convolution's GFLOP over the path's time):"]
    for path, (count, time_, direct, own) in sorted(totals.items(), key=lambda item: -item[1][1]):
        lines.append(f"  {path:12s} {count:3d} layers {1e3 * time_:8.2f} ms ({time_ / seconds:4.0%})  direct-equivalent "
                     f"{direct / time_:6.0f} GFLOP/s ({direct / time_ / peak:.2f}x peak); its own {own / time_:6.0f} "
                     f"GFLOP/s ({own / time_ / peak:.2f}x peak)")
    return lines


def _memory(args, name, path):
    """``(MB, text)``: the peak of ``path`` animating ``--memory-frames`` frames in a fresh process."""
    flags = ["--models", name, "--device", args.device, "--precision", args.precision, "--batch-size", args.batch_size]
    flags += ["--threads", args.threads] if args.threads else []
    flags += ["--engine-threads", args.engine_threads] if args.engine_threads else []
    flags += ["--workers", args.workers] if args.workers else []
    flags += ["--autotune"] if args.autotune or args.explain_speed else []
    flags += ["--tune-engine"] if args.tune_engine else []
    flags += ["--compile", args.compile] if isinstance(args.compile, str) else ["--compile"] if args.compile else []
    result = in_fresh_process(__file__, "--memory", path, "--frames", args.memory_frames, *flags)
    cuda = f", CUDA peak {result['cuda_mb']:.0f} MB" if result["cuda_mb"] is not None else ""
    return result["rss_mb"], f"+{result['rss_mb']:.0f} MB resident{cuda}"


def _onnx_loop(model, source, frames, args):
    """An :class:`OnnxLoop` on CPU float32 under the native ISA, else ``None`` (and why)."""
    if args.no_onnx or model.device.type != "cpu" or args.precision != "float32":
        return None, "not asked for" if args.no_onnx else "CPU float32 only"
    if os.environ.get(_ISA_CHILD, "native") != "native":
        return None, "ONNX Runtime has no switch to restrict its ISA"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, "onnxruntime is not installed (pip install -e '.[bench]')"
    folder = tempfile.mkdtemp(prefix="fomm-nb-speed-")
    return OnnxLoop(model, folder, source, frames, args.threads or torch.get_num_threads()), None


def measure(name, args, peak):
    label, model = load_benchmark_model(name, args.device)
    device, size, batch = model.device, model.image_size, args.batch_size
    source, frames = synthetic_clip(size, 2 * batch)
    frames = np.stack(list(frames))
    print(f"\n== {label}: {size}x{size}, {args.device}, {args.precision}, {batch} frames per timing round")
    start = time.perf_counter()
    engine = _engine(model, args)
    engine.set_source(source)
    print(f"engine set-up (inference copy, source encoding): {time.perf_counter() - start:.2f} s, once per model")
    if args.autotune or args.explain_speed or args.tune_engine:
        start = time.perf_counter()
        engine, tuning = _tuned_engine(model, source, args)
        print(f"autotuned in {time.perf_counter() - start:.2f} s (cached: once per model, shape, torch, CPU and ISA)")
        if args.explain_speed:
            print(tuning.explain())
        if peak is not None:
            print("\n".join(path_bounds(engine, tuning, peak)))
    threads = args.engine_threads or torch.get_num_threads()
    print(f"engine: batch {engine.batch_size}, {threads} threads in {engine.workers} workers")

    reference = ReferenceLoop(model, source, frames)
    expected = np.stack(reference.animate())
    actual = np.stack(list(engine.stream(frames)))
    differences = {"engine": float(np.abs(actual - expected).max())}
    onnx, why_not = _onnx_loop(model, source, frames, args)
    onnx_frames = {} if onnx is None else {"onnx": onnx.frame, "onnx-encoded": onnx.encoded_frame}
    for path, frame in onnx_frames.items():
        differences[path] = float(np.abs(np.stack([frame(i) for i in range(len(onnx))]) - expected).max())

    reference_gflop = gflop(lambda: reference.frame(1))
    counted = _engine(model, args, workers=1)  # the FLOP counter sees this thread only
    counted.set_source(source)
    engine_gflop = gflop(lambda: counted.animate_batch(frames[:batch])) / batch
    cached = _engine(model, args, optimize=False, workers=1)
    cached.set_source(source)
    cached_gflop = gflop(lambda: cached.animate_batch(frames[:batch])) / batch
    del counted, cached

    def run_engine():
        for _ in engine.stream(frames[:batch]):
            pass

    functions = {"reference": lambda: [reference.frame(i) for i in range(batch)], "engine": run_engine}
    for path, frame in onnx_frames.items():
        functions[path] = lambda frame=frame: [frame(i) for i in range(batch)]
    for function in functions.values():
        function()
    times = interleaved_seconds(functions, args.rounds)
    fps = {path: batch / statistics.median(seconds) for path, seconds in times.items()}

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

    memory = {path: _memory(args, name, path) for path in ("reference", "engine")}
    rows = [("reference (published loop)", "reference", reference_gflop), ("fomm_nb engine", "engine", engine_gflop)]
    for title, path, work in rows:
        print(f"{title:33s} {fps[path]:7.2f} fps  {work:7.2f} GFLOP/frame  {work * fps[path]:6.1f} GFLOP/s  "
              f"peak {memory[path][1]} ({args.memory_frames} frames)")
    for path in onnx_frames:
        print(f"{ONNX_PATHS[path][0]:33s} {fps[path]:7.2f} fps  (frame by frame; |difference| {differences[path]:.1e})")
    rounds = f"median of {args.rounds} interleaved rounds"
    print(f"speed-up over the published loop {median_ratio(times['reference'], times['engine']):.2f}x ({rounds}); "
          f"largest |difference| {differences['engine']:.1e}")
    for path in onnx_frames:
        print(f"speed-up over {ONNX_PATHS[path][1]} {median_ratio(times[path], times['engine']):.2f}x ({rounds})")
    if onnx is None:
        print(f"ONNX Runtime: not run ({why_not})")
    print(f"peak memory, engine / published loop: {memory['engine'][0] / memory['reference'][0]:.2f}x")
    if device.type == "cpu" and args.precision == "float32":
        bound = peak / cached_gflop
        print(
            f"bound for exact outputs by the direct algorithm: {cached_gflop:.1f} GFLOP/frame after caching at the "
            f"{peak:.0f} GFLOP/s GEMM peak = {bound:.2f} fps ({bound / fps['reference']:.2f}x the reference); the "
            f"engine reaches {fps['engine'] / bound:.2f}x that bound by doing {cached_gflop / engine_gflop:.1f}x fewer GFLOP"
        )
    print(
        f"keypoint explorer update (one frame, source cached): {1e3 * latency['engine']:.1f} ms "
        f"(the published generator call: {1e3 * latency['reference']:.1f} ms)"
    )


def run_isas(isas):
    """Run this script once per ISA in a child process with that ISA's environment; its output is printed as it comes."""
    arguments, skip = [], False
    for argument in sys.argv[1:]:  # everything but --isa and its value
        if skip or argument == "--isa":
            skip = argument == "--isa"
            continue
        if not argument.startswith("--isa="):
            arguments.append(argument)
    for isa in isas:
        environment = {key: value for key, value in os.environ.items() if key not in ISA_ENVIRONMENTS["avx2"]}
        environment.update({**ISA_ENVIRONMENTS[isa], _ISA_CHILD: isa})
        print(f"\n######## ISA {isa}: {' '.join(f'{k}={v}' for k, v in ISA_ENVIRONMENTS[isa].items()) or 'as detected'}",
              flush=True)
        subprocess.run([sys.executable, __file__, *arguments], env=environment, check=True)


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
    parser.add_argument("--isa", help="comma-separated: native, avx2 (each run in a child process)")
    parser.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    parser.add_argument("--autotune", action="store_true", help="autotune the engine's layers (fomm_nb.autotune)")
    parser.add_argument("--tune-engine", action="store_true",
                        help="autotune the engine's workers and batch size too (fomm_nb.autotune.tune_engine); "
                             "--batch-size is then the frames per timing round")
    parser.add_argument("--explain-speed", action="store_true",
                        help="autotune, and print each layer's paths timed, the one kept and why (fomm-nb animate too)")
    parser.add_argument("--memory-frames", type=int, default=32, help="frames animated for the peak memory")
    parser.add_argument("--memory", choices=["reference", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.isa and _ISA_CHILD not in os.environ:
        isas = args.isa.split(",")
        unknown = [isa for isa in isas if isa not in ISA_ENVIRONMENTS]
        if unknown:
            parser.error(f"--isa: unknown {', '.join(unknown)}; choose from {', '.join(ISA_ENVIRONMENTS)}")
        return run_isas(isas)
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
