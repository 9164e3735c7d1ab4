"""One Winograd layer at a time: its paths against oneDNN's direct convolution, and against another revision's code.

For each layer shape (``C`` channels in and out, ``S x S`` image, 3x3, stride
1, padding 1, channels_last, batch 1) this times ``WinogradConv2d`` on its
Winograd paths, each also with its transforms fused (``"-fused"``, when a C
compiler built them), and ``nn.Conv2d`` (oneDNN) on the same input, best of
``--rounds`` rounds of ``--calls`` calls, one thread by default. With
``--baseline REV`` it also times ``fomm_nb/winograd.py`` of git revision
``REV`` (same weights, same input, rounds interleaved in one process), so a
change to the Winograd code is measured against the code it replaces:

    .venv/bin/python benchmarks/winograd_layers.py --baseline HEAD~1

Not a test: it prints figures, and the largest difference from the direct convolution.
"""

import argparse
import importlib.util
import time

import torch
from torch import nn

from common import baseline_tree, machine
from fomm_nb import fused_transforms
from fomm_nb.winograd import FUSED, WinogradConv2d

#: (channels, image side): sizes like vox-256's Winograd layers, from the widest images to the deepest.
SHAPES = ((64, 256), (128, 128), (256, 64), (512, 32))


def best_ms(layer, x, calls: int) -> float:
    """The mean time of one call over ``calls`` calls (ms)."""
    start = time.perf_counter()
    for _ in range(calls):
        layer(x)
    return 1e3 * (time.perf_counter() - start) / calls


def baseline_module(revision: str):
    """``fomm_nb/winograd.py`` of git ``revision``, loaded as a module of its own."""
    path = baseline_tree(revision) / "fomm_nb" / "winograd.py"
    spec = importlib.util.spec_from_file_location("baseline_winograd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="also time the Winograd code of this git revision")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the best is reported)")
    parser.add_argument("--calls", type=int, default=5, help="calls per round")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    baseline = baseline_module(args.baseline) if args.baseline else None
    print(machine())
    print(f"one layer, batch 1, {args.threads} thread(s), best of {args.rounds} rounds of {args.calls} calls (ms)")
    with torch.inference_mode():
        for channels, side in SHAPES:
            conv = nn.Conv2d(channels, channels, 3, padding=1)
            x = torch.rand(1, channels, side, side).contiguous(memory_format=torch.channels_last)
            for path in ("winograd", "winograd-f6"):
                winograd = {"this tree": WinogradConv2d(conv)}
                if baseline is not None:
                    winograd[args.baseline] = baseline.WinogradConv2d(conv)
                for layer in winograd.values():
                    layer.path = path
                if fused_transforms.available():
                    winograd["fused"] = WinogradConv2d(conv)
                    winograd["fused"].path = path + FUSED
                layers = {**winograd, "direct (oneDNN)": conv}
                error = max((layer(x) - conv(x)).abs().max().item() for layer in winograd.values())
                times = {name: float("inf") for name in layers}
                for _ in range(args.rounds):
                    for name, layer in layers.items():
                        layer(x)  # warm
                        times[name] = min(times[name], best_ms(layer, x, args.calls))
                line = ", ".join(f"{name} {ms:.2f}" for name, ms in times.items())
                ratio = f"; {args.baseline} / this tree {times[args.baseline] / times['this tree']:.3f}x" if baseline else ""
                if "fused" in times:
                    ratio += (f"; this tree / fused {times['this tree'] / times['fused']:.3f}x, oneDNN / fused "
                              f"{times['direct (oneDNN)'] / times['fused']:.3f}x")
                print(f"{path:12s} {channels:3d} ch at {side:3d}x{side:<3d}: {line}{ratio}; "
                      f"largest difference from the direct one (any path) {error:.1e}")
    print(machine())


if __name__ == "__main__":
    main()
