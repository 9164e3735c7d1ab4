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
import tempfile
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
    """The published demo's ``make_animation``: the whole video in memory, batch 1, the source re-encoded every frame.

    Its inputs are built as the demo builds them: the source and the whole
    driving video become ``torch.tensor`` copies of float32 arrays, permuted
    to ``(1, C, H, W)`` and ``(1, C, T, H, W)``; each frame is a view of the
    video tensor, and each prediction is kept as a transposed NumPy view.
    ``ReferenceLoop(model, source, driving)`` (``(H, W, 3)`` and
    ``(T, H, W, 3)`` arrays) detects the source's and the first driving
    frame's keypoints; ``frame(index)`` animates one frame, ``animate()``
    every frame.
    """

    def __init__(self, model, source, driving):
        self.model = model
        with torch.no_grad():
            self.source = torch.tensor(np.asarray(source)[np.newaxis].astype(np.float32)).permute(0, 3, 1, 2)
            self.source = self.source.to(model.device)
            self.driving = torch.tensor(np.array(driving)[np.newaxis].astype(np.float32)).permute(0, 4, 1, 2, 3)
            self.kp_source = model.kp_detector(self.source)
            self.kp_initial = model.kp_detector(self.driving[:, :, 0].to(model.device))

    def __len__(self):
        return self.driving.shape[2]

    def frame(self, index):
        """The prediction for driving frame ``index``: ``(H, W, 3)``."""
        with torch.no_grad():
            kp_driving = self.model.kp_detector(self.driving[:, :, index].to(self.model.device))
            kp_norm = fomm_nb.normalize_kp(self.kp_source, kp_driving, self.kp_initial)
            out = self.model.generator(self.source, kp_source=self.kp_source, kp_driving=kp_norm)
        return np.transpose(out["prediction"].data.cpu().numpy(), [0, 2, 3, 1])[0]

    def animate(self):
        """Every prediction, kept in a list as published: ``T`` arrays ``(H, W, 3)``."""
        return [self.frame(index) for index in range(len(self))]


def animation_peak_mb(model, path, count, make_engine):
    """Peak resident MB above the level at entry while ``path`` animates ``count`` synthetic frames.

    ``path`` is ``"reference"`` (the published loop: the whole video and every
    prediction in memory) or ``"engine"``: ``make_engine(model, source)`` returns
    an engine with its source set, which streams the frames in and out.
    """
    source, frames = synthetic_clip(model.image_size, count)
    with PeakMemory() as peak:
        if path == "reference":
            predictions = ReferenceLoop(model, source, list(frames)).animate()  # noqa: F841 (kept, as published)
        else:
            for _ in make_engine(model, source).stream(frames):
                pass
    return peak.peak_mb


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


def baseline_tree(revision):
    """A folder holding ``fomm_nb`` of git ``revision`` (``git archive``; the repository is not touched)."""
    folder = Path(tempfile.mkdtemp(prefix="fomm-nb-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "fomm_nb"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def machine():
    """One line about the machine (CPU, its vector extensions, the ISA torch uses) and its load."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        flags = set(next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split(":", 1)[1].split())
        cpu += " (" + " ".join(flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if flag in flags) + ")"
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), "
        f"{torch.get_num_threads()} threads; load average {load}"
    )


class OnnxLoop:
    """ONNX Runtime running ``fomm-nb export``'s graphs frame by frame, as a deploying user would.

    ``OnnxLoop(model, folder, source, driving, threads)`` exports the model
    into ``folder`` and opens its graphs on the CPU; like
    :class:`ReferenceLoop`, ``frame(index)`` animates one frame: the keypoint
    graph on the frame, motion transfer, ``generator.onnx`` on the source and
    the keypoints (the source is encoded again for every frame: that graph
    takes the image). ``encoded_frame(index)`` does the same with the source
    encoded once, here (``source_encoder.onnx``), and
    ``generator_from_encoding.onnx`` for each frame. The source's keypoints
    are detected once for both.
    """

    def __init__(self, model, folder, source, driving, threads):
        import onnxruntime

        from fomm_nb.export import export_onnx

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        sessions = [
            onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for path in export_onnx(model, folder)
        ]
        self.kp_detector, self.generator, encoder, self.encoded_generator = sessions
        self.source = np.ascontiguousarray(np.asarray(source, np.float32)[None].transpose(0, 3, 1, 2))
        self.driving = np.ascontiguousarray(np.asarray(driving, np.float32).transpose(0, 3, 1, 2))
        self.kp_source = self._detect(self.source)
        self.kp_initial = self._detect(self.driving[:1])
        names = [output.name for output in encoder.get_outputs()]
        self.encoding = dict(zip(names, encoder.run(None, {"source": self.source})))

    def _detect(self, image):
        names = [output.name.removeprefix("kp_") for output in self.kp_detector.get_outputs()]
        return dict(zip(names, map(torch.from_numpy, self.kp_detector.run(None, {"image": image}))))

    def __len__(self):
        return len(self.driving)

    def _keypoints(self, index):
        """The keypoint inputs of the generator graphs for driving frame ``index``: ``{"kp_source_value": ...}``."""
        kp_norm = fomm_nb.normalize_kp(self.kp_source, self._detect(self.driving[index : index + 1]), self.kp_initial)
        inputs = {}
        for prefix, kp in (("kp_source", self.kp_source), ("kp_driving", kp_norm)):
            inputs.update({f"{prefix}_{key}": value.numpy() for key, value in kp.items()})
        return inputs

    @staticmethod
    def predict(generator, inputs):
        """``generator``'s prediction ``(H, W, 3)`` from the ``inputs`` it lists (the exporter drops unused ones)."""
        listed = {graph_input.name: inputs[graph_input.name] for graph_input in generator.get_inputs()}
        (prediction,) = generator.run(None, listed)
        return prediction[0].transpose(1, 2, 0)

    def frame(self, index):
        """The prediction for driving frame ``index`` by ``generator.onnx``: ``(H, W, 3)``."""
        return self.predict(self.generator, {"source": self.source, **self._keypoints(index)})

    def encoded_inputs(self, index):
        """The inputs of ``generator_from_encoding.onnx`` for driving frame ``index``: the encoding and the keypoints."""
        return {**self.encoding, **self._keypoints(index)}

    def encoded_frame(self, index):
        """The prediction for driving frame ``index`` from the cached source encoding: ``(H, W, 3)``."""
        return self.predict(self.encoded_generator, self.encoded_inputs(index))
