"""What the benchmarks share: the models, synthetic clips, the reference loop, and measuring.

Not a test: nothing here asserts. Every timing is a median of repeated,
interleaved runs, because the machines these run on are shared.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fomm_nb  # noqa: E402
from fomm_nb.config import ModelConfig  # noqa: E402

BUNDLED = ROOT / "checkpoints" / "fomm-nb-faces.pth.tar"

#: A 64x64 model of the bundled model's size, used (random weights) until the bundled one exists.
SMALL_CONFIG = {
    "dataset_params": {"frame_shape": [64, 64, 3]},
    "model_params": {
        "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {
            "temperature": 0.1, "block_expansion": 16, "max_features": 128, "scale_factor": 0.5, "num_blocks": 3,
        },
        "generator_params": {
            "block_expansion": 16, "max_features": 128, "num_down_blocks": 2, "num_bottleneck_blocks": 2,
            "estimate_occlusion_map": True,
            "dense_motion_params": {"block_expansion": 16, "max_features": 128, "num_blocks": 3, "scale_factor": 0.5},
        },
    },
}


def load_benchmark_model(name, device="cpu"):
    """``(label, model)``: ``"vox"`` (vox-256, random weights) or ``"small"`` (the bundled model if present)."""
    torch.manual_seed(0)
    if name == "vox":
        return "vox-256, random weights", fomm_nb.load_model("vox", device=device)
    if name == "small":
        if BUNDLED.is_file():
            return f"bundled {BUNDLED.name}", fomm_nb.load_model(None, BUNDLED, device=device)
        config = ModelConfig.from_dict(SMALL_CONFIG, name="small-64")
        return "small-64 (bundled model not found: its size, random weights)", fomm_nb.load_model(config, device=device)
    raise SystemExit(f"unknown model {name!r}: use vox or small")


def synthetic_clip(size, num_frames, seed=0):
    """A smooth source ``(H, W, 3)`` and ``num_frames`` driving frames of moving colour blobs, float32 in [0, 1].

    Smooth images, as photos are: a warp of white noise would turn every
    tiny difference of the sampling grid into a large difference of pixels.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    centres, colours = rng.uniform(0.2, 0.8, (6, 2)), rng.uniform(0, 1, (6, 3))
    radii, phases = rng.uniform(0.08, 0.2, 6), rng.uniform(0, 2 * np.pi, 6)

    def frame(t):
        shift = 0.05 * np.stack([np.cos(phases + 0.2 * t), np.sin(phases + 0.2 * t)], axis=1)
        image = np.full((size, size, 3), 0.2) + 0.3 * xx[..., None] * np.array([0.5, 0.3, 0.8])
        for (cx, cy), colour, radius in zip(centres + shift, colours, radii):
            image += colour * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))[..., None]
        return np.clip(image, 0, 1).astype(np.float32)

    return frame(-10), (frame(t) for t in range(num_frames))


class ReferenceLoop:
    """The published demo's loop: the whole video in memory, batch 1, the source re-encoded every frame.

    ``ReferenceLoop(model, source, first_frame)`` detects the source's and the
    initial driving frame's keypoints; ``frame(image)`` animates one frame
    (``(H, W, 3)`` arrays in, out).
    """

    def __init__(self, model, source, first_frame):
        self.model = model
        self.source = self._tensor(source)
        with torch.no_grad():
            self.kp_source = model.kp_detector(self.source)
            self.kp_initial = model.kp_detector(self._tensor(first_frame))

    def _tensor(self, image):
        return torch.from_numpy(np.asarray(image)[None]).permute(0, 3, 1, 2).to(self.model.device)

    def frame(self, image):
        with torch.no_grad():
            kp_driving = self.model.kp_detector(self._tensor(image))
            kp_norm = fomm_nb.normalize_kp(self.kp_source, kp_driving, self.kp_initial)
            out = self.model.generator(self.source, kp_source=self.kp_source, kp_driving=kp_norm)
        return out["prediction"][0].permute(1, 2, 0).cpu().numpy()

    def animate(self, driving):
        """``(T, H, W, 3)`` -> ``(T, H, W, 3)``, every prediction kept, as published."""
        return np.stack([self.frame(image) for image in driving])


def interleaved_seconds(functions, rounds):
    """Seconds of each call of each function, timed in interleaved rounds: ``{name: [seconds, ...]}``."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def median_seconds(functions, rounds):
    """Per-call median seconds of each function, timed in interleaved rounds: ``{name: seconds}``."""
    return {name: statistics.median(values) for name, values in interleaved_seconds(functions, rounds).items()}


def median_ratio(numerators, denominators):
    """The median over rounds of ``numerator / denominator``: a ratio robust to load that changes between rounds."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))


def gflop(function):
    """GFLOP counted by :class:`torch.utils.flop_counter.FlopCounterMode` for one call."""
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops() / 1e9


def gemm_peak(size=2048, repeats=7):
    """This CPU's single-precision GEMM rate (GFLOP/s): the best of ``repeats`` ``size``-cubed products.

    The best, not the median: other processes can only slow a product down.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    seconds = min(interleaved_seconds({"mm": lambda: torch.mm(a, b, out=out)}, repeats)["mm"])
    return 2 * size**3 / seconds / 1e9


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident memory above the level at entry, sampled every millisecond: ``.peak_mb``."""

    def __enter__(self):
        self.start, self.peak, self._running = _rss_bytes(), 0, True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        self.peak_mb = (self.peak - self.start) / 2**20


def in_fresh_process(script, *args):
    """Run ``script`` with ``args`` in a new interpreter; its last stdout line, parsed as JSON."""
    result = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine():
    """One line about the machine and its load."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), "
        f"{torch.get_num_threads()} threads; load average {load}"
    )
