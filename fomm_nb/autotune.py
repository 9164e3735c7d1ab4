"""Autotuning: the engine takes its fastest exact settings on this machine, and says why.

Some layers of :func:`~fomm_nb.optimize.optimize_for_inference`'s copy can
compute the same numbers two ways, and which is faster depends on the CPU,
its instruction set, the threads and the activation's shape:

* a :class:`~fomm_nb.winograd.WinogradConv2d`: ``"winograd"`` (``F(4x4, 3x3)``),
  ``"winograd-f6"`` (``F(6x6, 3x3)``), each also ``"-fused"`` on CPU when a C compiler could build
  :mod:`fomm_nb.fused_transforms`, ``"direct"`` (oneDNN's convolution, channels_last), ``"direct-nchw"`` (oneDNN's
  convolution on an NCHW copy) or, on small inputs, ``"im2col"`` (patches
  times the weight where it lies);
* an :class:`~fomm_nb.optimize.UpsampledConvReLU`: ``"sub-pixel"`` (one 2x2
  convolution of the small input) or ``"upsampled"`` (as published).

:func:`autotune` records each layer's input shape on one batch, times every
path of every layer on that shape (best of a few calls, on the threads one
engine worker gets), and sets each layer's ``path`` to the fastest.
:func:`tune_engine` first times the engine's number of workers and its batch
size (seconds per frame; only the batch sizes that
:func:`~fomm_nb.arguments.check_batch_memory` lets through), then tunes the
layers at the settings kept. Both return a :class:`Tuning`: every candidate's
time, the one kept and why; ``print(tuning.explain())`` is what
``fomm-nb animate --explain-speed`` prints.

The results are cached in ``autotune.json`` in the checkpoint folder
(``$FOMM_NB_HOME``, see :func:`fomm_nb.download.cache_dir`), under a key made of
the torch version, the CPU model, the instruction set torch uses, the threads,
the model's architecture, the shapes and the paths there are to time (and
:data:`PATHS_REVISION`, their code's); a cache file that cannot be read is
ignored with a warning and written again, one that cannot be written is left
alone with a warning.

Example:
    >>> import numpy as np
    >>> from fomm_nb.hub import get_model
    >>> engine = AnimationEngine(get_model("demo", device="cpu"), batch_size=2)
    >>> _ = engine.set_source(np.zeros((64, 64, 3), np.float32))
    >>> tuning = autotune(engine, cache=False)
    >>> set(tuning.choices.values()) <= {*PATHS[WinogradConv2d], *PATHS[UpsampledConvReLU]}
    True
    >>> all(layer.kept == min(layer.seconds, key=layer.seconds.get) for layer in tuning.layers.values())
    True
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .animate import AnimationEngine, torch_threads
from .runtime import ResidentGrowth
from .arguments import check_batch_memory
from .config import DEFAULT_BATCH_SIZE
from .engine_settings import EngineChoice, engine_lines, pick
from .errors import InputError
from .model import FirstOrderModel
from .motion import MotionOptions
from .optimize import PHASE_MIN_SIZE, UpsampledConvReLU
from .tuning_cache import CACHE_FILE, TuningCache
from . import fused_transforms
from .fused_transforms import cpu_description
from .winograd import FUSED, WinogradConv2d, can_fuse

__all__ = ["autotune", "tune_engine", "explain", "tunable_layers", "Tuning", "LayerChoice", "PATHS", "CACHE_FILE",
           "BATCH_SIZES", "WORKERS", "TRIAL_CALLS"]

#: The exact paths of each tunable layer type.
PATHS = {WinogradConv2d: ("winograd", "direct", "im2col", "direct-nchw", "winograd-f6", "winograd-fused",
                          "winograd-f6-fused"),
         UpsampledConvReLU: ("sub-pixel", "upsampled")}
#: Raised when a path's code changes its speed (2: the Winograd tiles gathered as one matrix; 3: padded by
#: chunks, the bias added as the output is written; 4: the fused paths), so that layers tuned with the older code
#: are timed again.
PATHS_REVISION = 4
#: The batch sizes :func:`tune_engine` times (those the memory check refuses are left out). Larger batches
#: gained under 3% per frame at vox-256 on 2 cores and cost memory, which a classroom server runs short of.
BATCH_SIZES = (1, 2, 4, 8)
#: The numbers of workers :func:`tune_engine` times on CPU (those above the threads are left out).
WORKERS = (1, 2, 4)
#: Calls of each setting when timing (a warm-up, then up to two timed): what timing costs, in batches.
TRIAL_CALLS = 3


def tunable_layers(network: nn.Module) -> dict[str, nn.Module]:
    """The layers of ``network`` with more than one path, by name."""
    return {name: module for name, module in network.named_modules() if type(module) in PATHS}


@dataclass
class LayerChoice:
    """One layer's tuning: its input shape ``(B, C, H, W)``, each path's best time in seconds, the path kept."""

    shape: tuple[int, ...]
    seconds: dict[str, float]
    kept: str

    @property
    def reason(self) -> str:
        """Why ``kept`` was kept, in words."""
        if len(self.seconds) == 1:
            return f"the only path for inputs under {PHASE_MIN_SIZE} pixels a side"  # a 2x2 up block's
        others = sorted((path for path in self.seconds if path != self.kept), key=self.seconds.get)
        return f"fastest, {self.seconds[others[0]] / self.seconds[self.kept]:.2f}x faster than {others[0]}"


@dataclass
class Tuning:
    """What :func:`autotune` / :func:`tune_engine` timed and kept, where it is cached, under which key."""

    key: str
    layers: dict[str, LayerChoice]
    cache: Path | None
    cached: bool
    engine: EngineChoice | None = None
    engine_key: str | None = None
    engine_cached: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def choices(self) -> dict[str, str]:
        """``{layer name: path kept}``."""
        return {name: layer.kept for name, layer in self.layers.items()}

    def explain(self) -> str:
        """The printout of ``--explain-speed``: the cache, the key, the engine's settings and each layer's path."""
        where = "not used" if self.cache is None else str(self.cache)
        lines = [f"autotune cache: {where}", f"key (torch | CPU | ISA | threads per worker | model and shapes): {self.key}"]
        if self.engine is not None:
            lines += engine_lines(self.engine, self.engine_key, self.engine_cached)
        source = "read from the cache (timed when first seen)" if self.cached else "timed now"
        lines.append(f"layers: each path's best time on the layer's input, {source}")
        width = max((len(name) for name in self.layers), default=0)
        for name, layer in self.layers.items():
            timed = ", ".join(f"{path} {1e3 * seconds:.3f} ms" for path, seconds in layer.seconds.items())
            shape = "x".join(map(str, layer.shape))
            lines.append(f"  {name:{width}s}  {shape:>16s}  {timed:44s} -> {layer.kept}: {layer.reason}")
        return "\n".join(lines + self.notes)


def _paths(module, shape, device_type="cpu"):
    paths = PATHS[type(module)]
    if isinstance(module, UpsampledConvReLU) and min(shape[2:]) < PHASE_MIN_SIZE:
        return paths[1:]  # the sub-pixel form needs inputs of PHASE_MIN_SIZE pixels a side
    if isinstance(module, WinogradConv2d):
        too_big = shape[0] * shape[2] * shape[3] > module.conv.out_channels  # im2col's patches would outgrow the weight
        fused_here = can_fuse(device_type)  # a C compiler built them
        return tuple(path for path in paths if not (path == "im2col" and too_big)
                     and (path.removesuffix(FUSED) in module.tilings or not path.startswith("winograd"))
                     and (fused_here or not path.endswith(FUSED)))
    return paths


def _trial(engine, batch_size):
    """Animate one batch of ``batch_size`` (the source as every driving frame), leaving the engine's state as it was."""
    initial = engine.kp_driving_initial  # the trial batch must not become the reference of relative motion
    try:
        out = engine.animate_batch(engine.encoding.image.expand(batch_size, -1, -1, -1))
        if out.device.type == "cuda":
            torch.cuda.synchronize(out.device)
    finally:
        engine.kp_driving_initial = initial


def _input_shapes(engine, layers):
    """The input shape each layer sees while the engine animates one batch."""
    shapes = {}

    def record(name):
        def hook(module, args):
            shapes.setdefault(name, tuple(args[0].shape))  # returns None: the arguments are left as they are

        return hook

    hooks = [module.register_forward_pre_hook(record(name)) for name, module in layers.items()]
    try:
        _trial(engine, engine.batch_size)
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def _machine(model, threads):
    """torch, the CPU (or the GPU), its ISA, the threads, and a digest of the architecture and ``extra``."""
    device = model.device
    capability = torch.backends.cpu.get_cpu_capability() if device.type == "cpu" else torch.cuda.get_device_name(device)
    return f"torch {torch.__version__} | {cpu_description()[0]} | {capability} | {threads} threads"


def _digest(model, extra):
    architecture = [(name, tuple(tensor.shape)) for name, tensor in model.state_dict().items()]
    return hashlib.sha256(repr((architecture, extra)).encode()).hexdigest()[:16]


def _fused_build(model):
    """The fused transforms' build a CPU model's layers use (another build, or none: timed again), else False."""
    return model.device.type == "cpu" and fused_transforms.build()


def _key(engine, threads, shapes):
    """What the layers' timings depend on: torch, the CPU, its ISA, the threads, the architecture and the shapes."""
    paths = {kind.__name__: names for kind, names in PATHS.items()}  # a release with other paths times them again
    digest = _digest(engine.network, (sorted(shapes.items()), paths, PATHS_REVISION, _fused_build(engine.model)))
    return f"{_machine(engine.model, threads)} | {digest}"


def _seconds(run, repeats=3, enough=0.5):
    """Best time of ``run()`` over up to ``repeats`` calls after a warm-up (fewer once ``enough`` seconds are spent)."""
    run()  # warm-up: kernels made on first use, oneDNN's primitives
    best, spent = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if spent >= enough:
            break
    return best


@torch.inference_mode()
def _time_layer(module, shape, device):
    """A :class:`LayerChoice`: every path of ``module`` timed on a ``shape`` input, the fastest kept."""
    x = torch.rand(shape, device=device).contiguous(memory_format=torch.channels_last)
    seconds = {}
    for path in _paths(module, shape, torch.device(device).type):
        module.path = path
        seconds[path] = _seconds(lambda: module(x))
    return LayerChoice(tuple(shape), seconds, min(seconds, key=seconds.get))


def _layers_from(entry, shapes):
    """The cached :class:`LayerChoice` of each layer, or ``None`` when ``entry`` does not cover these layers."""
    try:
        layers = {name: LayerChoice(tuple(value["shape"]), dict(value["seconds"]), value["kept"])
                  for name, value in entry["layers"].items()}
    except (KeyError, TypeError, AttributeError):
        return None  # an entry of an older layout, or none
    return layers if set(layers) == set(shapes) else None


def autotune(engine: AnimationEngine, cache: bool = True) -> Tuning:
    """Give each tunable layer of ``engine``'s inference copy its fastest path; returns the :class:`Tuning`.

    Needs the engine's source (:meth:`~fomm_nb.animate.AnimationEngine.set_source`):
    the shapes are the source's, at the engine's batch size and workers. Every
    path is exact (the engine's frames stay within 1e-5). The choices apply to
    every engine sharing the inference copy (one model, one device).
    """
    engine._require_source()
    layers = tunable_layers(engine.network)
    for module in layers.values():
        module.path = None
    shapes = _input_shapes(engine, layers)
    threads = max(1, (engine.num_threads or torch.get_num_threads()) // engine.workers)
    key = _key(engine, threads, shapes)
    store = TuningCache(cache)
    chosen = _layers_from(store.get(key) or {}, shapes)
    cached = chosen is not None
    if not cached:
        with torch_threads(threads):
            chosen = {name: _time_layer(layers[name], shape, engine.device) for name, shape in sorted(shapes.items())}
        store.put(key, {"layers": {name: {"shape": list(layer.shape), "seconds": layer.seconds, "kept": layer.kept}
                                   for name, layer in chosen.items()}})
    for name, module in layers.items():
        module.path = chosen[name].kept if name in chosen else None
    return Tuning(key, chosen, store.path, cached, notes=store.notes)


def _fits(batch_size, model):
    try:
        check_batch_memory(batch_size, model.image_size, model.device)
        return True
    except InputError:
        return False


def _time_settings(model, source, workers, batches, num_threads):
    """``(seconds, peaks)``: seconds per frame and trial memory (MB above the level before; CPU and Linux only,
    else ``{}``) of each ``(workers, batch)``, the layers on their built-in rule."""
    seconds, peaks = {}, {}
    for count in workers:
        engine = AnimationEngine(model, batch_size=max(batches), num_threads=num_threads, workers=count)
        for module in tunable_layers(engine.network).values():
            module.path = None
        engine.set_source(source)
        for batch in batches:
            with ResidentGrowth() as growth:
                seconds[(count, batch)] = _seconds(lambda: _trial(engine, batch), repeats=TRIAL_CALLS - 1) / batch
            if growth.mb is not None and model.device.type == "cpu":
                peaks[(count, batch)] = growth.mb
    return seconds, peaks


def tune_engine(
    model: FirstOrderModel,
    source: np.ndarray | torch.Tensor,
    *,
    batch_size: int | None = None,
    workers: int | None = None,
    options: MotionOptions | None = None,
    num_threads: int | None = None,
    cache: bool = True,
    frames: int | None = None,
    log: Callable[[str], object] | None = None,
) -> tuple[AnimationEngine, Tuning]:
    """An :class:`~fomm_nb.animate.AnimationEngine` for ``source`` with its workers, batch size and layers tuned.

    The settings left ``None`` are timed (seconds per frame of every workers
    count in :data:`WORKERS` up to the threads, on CPU, and every batch size in
    :data:`BATCH_SIZES` that :func:`~fomm_nb.arguments.check_batch_memory` lets
    through; kept by :func:`fomm_nb.engine_settings.pick`: within its
    ``TIE`` of the fastest, the fewest workers, then the smallest batch, and
    on CPU none whose trial took too much more memory than batch 1's),
    then the layers are tuned at the settings kept (:func:`autotune`). Cached
    like the layers; a cached batch size that no longer fits in memory is not
    used. When ``frames`` (the number of frames the engine will animate) is
    given and timing the settings would animate more (:data:`TRIAL_CALLS` calls
    of every setting), and nothing is cached, they are not timed: the given
    settings, else the engine's workers and :data:`~fomm_nb.config.DEFAULT_BATCH_SIZE`.
    ``log`` is called with one line before the settings are timed.

    Args:
        source: ``(H, W, C)`` array or ``(1, C, H, W)`` tensor, as for ``set_source``.

    Returns:
        ``(engine, tuning)``: the engine has its source set; ``tuning.explain()`` says what was chosen and why.

    Example:
        >>> engine, tuning = tune_engine(get_model("demo", device="cpu"), np.zeros((64, 64, 3), np.float32), cache=False)  # doctest: +SKIP
        >>> (engine.workers, engine.batch_size) == (tuning.engine.workers, tuning.engine.batch_size)  # doctest: +SKIP
        True
    """
    threads = num_threads or torch.get_num_threads()
    worker_counts = [workers] if workers else [1] if model.device.type != "cpu" else [w for w in WORKERS if w <= threads]
    batches = [batch_size] if batch_size else [b for b in BATCH_SIZES if _fits(b, model)] or [1]
    refused = () if batch_size else tuple(b for b in BATCH_SIZES if b not in batches)
    given = tuple(f"{name} {value} given" for name, value in (("workers", workers), ("batch", batch_size)) if value)
    candidates = (model.image_size, worker_counts, [batch_size] if batch_size else list(BATCH_SIZES))
    # The layers' code times too; "peak_mb": entries from before the trials' memory was kept are timed again.
    paths = (PATHS_REVISION, _fused_build(model), "peak_mb")
    key = f"engine | {_machine(model, threads)} | {_digest(model, (candidates, paths))}"  # not what fits: it varies
    store = TuningCache(cache)
    entry = store.get(key) or {}
    seconds, peaks = ({tuple(map(int, setting.split("x"))): float(value) for setting, value in entry.get(name, {}).items()}
                      for name in ("seconds_per_frame", "peak_mb"))
    cached = bool(seconds) and pick(seconds, lambda b: _fits(b, model), peaks) is not None
    cost = TRIAL_CALLS * len(worker_counts) * sum(batches)  # frames animated to time every setting
    untimed = None
    if len(worker_counts) * len(batches) == 1:
        untimed = "the only setting left, not timed (" + (", ".join(given) or "the rest refused by the memory check") + ")"
    elif not cached and frames is not None and cost > frames:
        untimed = (f"not timed: timing would animate about {cost} frames, more than the {frames} to animate "
                   "(the defaults kept, and what was given)")
    if untimed:
        seconds, peaks, cached = {}, {}, False
        default = DEFAULT_BATCH_SIZE if DEFAULT_BATCH_SIZE in batches else max(batches)
        kept_workers, kept_batch = workers, batch_size or default
    else:
        if not cached:
            if log is not None:
                where = f"cached in {store.path}" if store.path else "not cached"
                what = [name for name, fixed in (("the workers", workers), ("the batch size", batch_size)) if not fixed]
                log(f"autotuning {', '.join(what)} and the layers on this machine (once; {where})")
            seconds, peaks = _time_settings(model, source, worker_counts, batches, num_threads)
            store.put(key, {name: {f"{w}x{b}": value for (w, b), value in values.items()}
                            for name, values in (("seconds_per_frame", seconds), ("peak_mb", peaks))})
        kept_workers, kept_batch = pick(seconds, lambda b: _fits(b, model), peaks) or (worker_counts[0], min(batches))
    engine = AnimationEngine(model, batch_size=kept_batch, options=options, num_threads=num_threads, workers=kept_workers)
    engine.set_source(source)
    tuning = autotune(engine, cache=cache)
    tuning.engine = EngineChoice(engine.workers, kept_batch, seconds, refused, untimed, peaks)
    tuning.engine_key, tuning.engine_cached = key, cached
    tuning.notes[:0] = store.notes
    return engine, tuning


def explain(engine: AnimationEngine) -> str:
    """One line per tunable layer of ``engine``: its name and the path it takes (``default``: the built-in rule)."""
    layers = tunable_layers(engine.network)
    return "\n".join(f"{name:55s} {module.path or 'default'}" for name, module in layers.items())
