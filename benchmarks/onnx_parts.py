"""Where ONNX Runtime is faster: the keypoint detector and the generator timed apart, ORT against torch.

For one frame (batch 1, the interactive apps' case) and one model, it times
each part in ONNX Runtime (``fomm-nb export``'s graphs, through ``common.OnnxLoop``) and in torch, both
the model as published and the engine's inference copy
(:func:`fomm_nb.optimize.optimize_for_inference`), and counts which of
torch's convolution kernels the engine's detector runs: oneDNN's
(``mkldnn_convolution``) or aten's own im2col kernel
(``_slow_conv2d_forward``), which torch picks for a batch-1 3x3 convolution
of at most 20,480 input values.

    .venv/bin/python benchmarks/onnx_parts.py --model demo
    .venv/bin/python benchmarks/onnx_parts.py --model vox --threads 2
"""

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from common import OnnxLoop, machine

import fomm_nb
from fomm_nb.data.procedural import make_video
from fomm_nb.hub import get_model
from fomm_nb.optimize import optimize_for_inference
from fomm_nb.types import Keypoints

ROUNDS = 3  # interleaved rounds; each part's median over them is printed


def _milliseconds(run, calls=5):
    """Median time of ``run()`` over ``calls`` calls after one warm-up, in ms."""
    run()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _keypoints(inputs, prefix):
    """The :class:`Keypoints` ``prefix`` (``kp_source``, ``kp_driving``) among the generator graph's ``inputs``."""
    jacobian = inputs.get(f"{prefix}_jacobian")
    return Keypoints(torch.from_numpy(inputs[f"{prefix}_value"]), None if jacobian is None else torch.from_numpy(jacobian))


def _torch_convolutions(network, image):
    """How many convolutions of one call ran in oneDNN and how many in aten's im2col kernel."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        network(image)
    counts = {event.key: event.count for event in profiler.key_averages()}
    return counts.get("aten::mkldnn_convolution", 0), counts.get("aten::_slow_conv2d_forward", 0)


@torch.inference_mode()
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo", help="demo (the bundled model) or a published config (vox ...)")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and ONNX Runtime")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    model = get_model(args.model, device="cpu") if args.model == "demo" else fomm_nb.load_model(args.model, device="cpu")
    engine_copy = optimize_for_inference(model)
    size = model.image_size
    frames = make_video(seed=3, num_frames=8, size=size).frames  # the source, then a moved face to drive it
    loop = OnnxLoop(model, tempfile.mkdtemp(prefix="fomm-nb-onnx-parts-"), frames[0], frames, args.threads)
    inputs = loop.encoded_inputs(len(frames) - 1)
    kp_source, kp_driving = _keypoints(inputs, "kp_source"), _keypoints(inputs, "kp_driving")
    image = torch.from_numpy(loop.source)
    image_cl = image.contiguous(memory_format=torch.channels_last)
    encoding, engine_encoding = model.generator.encode_source(image), engine_copy.generator.encode_source(image_cl)
    parts = {
        "keypoint detector": (lambda: loop.kp_detector.run(None, {"image": loop.source}),
                              lambda: model.kp_detector(image), lambda: engine_copy.kp_detector(image_cl)),
        "generator, source encoded": (lambda: OnnxLoop.predict(loop.encoded_generator, inputs),
                                      lambda: model.generator.animate(encoding, kp_source, kp_driving),
                                      lambda: engine_copy.generator.animate(engine_encoding, kp_source, kp_driving)),
    }
    times = {name: [] for name in parts}
    for _ in range(ROUNDS):
        for name, runs in parts.items():
            times[name].append([_milliseconds(run) for run in runs])
    print(f"\n{args.model}, {size}x{size}, one frame, {args.threads} threads (ms, median of {ROUNDS} interleaved rounds)")
    print(f"{'part':28s} {'ONNX Runtime':>13s} {'torch':>8s} {'engine':>8s} {'engine / ORT':>13s}")
    for name, rounds in times.items():
        ort, plain, engine = (float(np.median(column)) for column in zip(*rounds))
        print(f"{name:28s} {ort:13.2f} {plain:8.2f} {engine:8.2f} {engine / ort:12.2f}x")
    onednn, aten = _torch_convolutions(engine_copy.kp_detector, image_cl)
    print(f"the engine's keypoint detector ran {onednn} convolutions in oneDNN and {aten} in aten's im2col kernel")


if __name__ == "__main__":
    main()
