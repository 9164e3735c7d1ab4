"""Per-layer autotuning: each layer of the engine's inference copy takes its fastest exact path on this machine.

Some layers of :func:`~fomm_nb.optimize.optimize_for_inference`'s copy can
compute the same numbers two ways, and which is faster depends on the CPU,
its instruction set, the threads and the activation's shape:

* a :class:`~fomm_nb.winograd.WinogradConv2d`: ``"winograd"`` (``F(4x4, 3x3)``)
  or ``"direct"`` (oneDNN's convolution);
* an :class:`~fomm_nb.optimize.UpsampledConvReLU`: ``"sub-pixel"`` (one 2x2
  convolution of the small input) or ``"upsampled"`` (as published).

:func:`autotune` records each layer's input shape on one batch, times every
path of every layer on that shape (best of a few calls, on the threads one
engine worker gets), and sets each layer's ``path`` to the fastest. The choices
are cached in ``autotune.json`` in the checkpoint folder (``$FOMM_NB_HOME``,
see :func:`fomm_nb.download.cache_dir`), under a key made of the torch
version, the CPU model, the instruction set torch uses, the threads, the
model's architecture and the shapes; a cache file that cannot be read is
ignored with a warning and written again.

Example:
    >>> import numpy as np
    >>> from fomm_nb.animate import AnimationEngine
    >>> from fomm_nb.hub import get_model
    >>> engine = AnimationEngine(get_model("demo", device="cpu"), batch_size=2)
    >>> _ = engine.set_source(np.zeros((64, 64, 3), np.float32))
    >>> choices = autotune(engine, cache=False)  # {layer name: path}
    >>> set(choices.values()) <= {"winograd", "direct", "sub-pixel", "upsampled"}
    True
"""

import hashlib
import json
import platform
import time
import warnings

import torch
from torch import nn

from .animate import AnimationEngine, torch_threads
from .download import cache_dir
from .optimize import PHASE_MIN_SIZE, UpsampledConvReLU
from .winograd import WinogradConv2d

__all__ = ["autotune", "explain", "tunable_layers", "PATHS", "CACHE_FILE"]

#: The exact paths of each tunable layer type.
PATHS = {WinogradConv2d: ("winograd", "direct"), UpsampledConvReLU: ("sub-pixel", "upsampled")}
#: The cache's file name in the checkpoint folder.
CACHE_FILE = "autotune.json"


def tunable_layers(network: nn.Module) -> dict[str, nn.Module]:
    """The layers of ``network`` with more than one path, by name."""
    return {name: module for name, module in network.named_modules() if type(module) in PATHS}


def _paths(module, shape):
    paths = PATHS[type(module)]
    if isinstance(module, UpsampledConvReLU) and min(shape[2:]) < PHASE_MIN_SIZE:
        return paths[1:]  # the sub-pixel form needs inputs of PHASE_MIN_SIZE pixels a side
    return paths


def _input_shapes(engine, layers):
    """The input shape each layer sees while the engine animates one batch (its source as every driving frame)."""
    shapes = {}

    def record(name):
        def hook(module, args):
            shapes.setdefault(name, tuple(args[0].shape))  # returns None: the arguments are left as they are

        return hook

    hooks = [module.register_forward_pre_hook(record(name)) for name, module in layers.items()]
    initial = engine.kp_driving_initial  # the trial batch must not become the reference of relative motion
    try:
        engine.animate_batch(engine.encoding.image.expand(engine.batch_size, -1, -1, -1))
    finally:
        engine.kp_driving_initial = initial
        for hook in hooks:
            hook.remove()
    return shapes


def _cpu_model():
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _key(engine, threads, shapes):
    """What the timings depend on: torch, the CPU, its ISA, the threads, the architecture and the shapes."""
    architecture = [(name, tuple(tensor.shape)) for name, tensor in engine.network.state_dict().items()]
    digest = hashlib.sha256(repr((architecture, sorted(shapes.items()))).encode()).hexdigest()[:16]
    capability = torch.backends.cpu.get_cpu_capability() if engine.device.type == "cpu" else str(engine.device)
    return f"torch {torch.__version__} | {_cpu_model()} | {capability} | {threads} threads | {digest}"


def _seconds(module, x, path, repeats=3):
    module.path = path
    module(x)  # warm-up: kernels made on first use, oneDNN's primitives
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        module(x)
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def _fastest(module, shape, device):
    x = torch.rand(shape, device=device).contiguous(memory_format=torch.channels_last)
    timings = {path: _seconds(module, x, path) for path in _paths(module, shape)}
    return min(timings, key=timings.get)


def _read_cache(path):
    if not path.is_file():
        return {}
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict):
            raise ValueError("not a JSON object")
        return cache
    except (OSError, UnicodeDecodeError, ValueError) as error:
        warnings.warn(f"{path}: not a tuning cache ({error}); tuning again", stacklevel=3)
        return {}


def autotune(engine: AnimationEngine, cache: bool = True) -> dict[str, str]:
    """Give each tunable layer of ``engine``'s inference copy its fastest path; returns ``{layer: path}``.

    Needs the engine's source (:meth:`~fomm_nb.animate.AnimationEngine.set_source`):
    the shapes are the source's, at the engine's batch size. Every path is
    exact (the engine's frames stay within 1e-5). The choices apply to every
    engine sharing the inference copy (one model, one device).
    """
    engine._require_source()
    layers = tunable_layers(engine.network)
    for module in layers.values():
        module.path = None
    shapes = _input_shapes(engine, layers)
    threads = max(1, (engine.num_threads or torch.get_num_threads()) // engine.workers)
    key = _key(engine, threads, shapes)
    path = cache_dir() / CACHE_FILE if cache else None
    stored = _read_cache(path) if cache else {}
    choices = stored.get(key)
    if not isinstance(choices, dict) or set(choices) != set(shapes):
        with torch_threads(threads):
            choices = {name: _fastest(layers[name], shape, engine.device) for name, shape in sorted(shapes.items())}
        if cache:
            path.write_text(json.dumps({**stored, key: choices}, indent=1))
    for name, module in layers.items():
        module.path = choices.get(name)
    return choices


def explain(engine: AnimationEngine) -> str:
    """One line per tunable layer of ``engine``: its name and the path it takes (``default``: the built-in rule)."""
    layers = tunable_layers(engine.network)
    return "\n".join(f"{name:55s} {module.path or 'default'}" for name, module in layers.items())
