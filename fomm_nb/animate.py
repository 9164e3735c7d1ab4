"""The animation engine: one source image, a stream of driving frames.

The source is encoded once (its keypoints and the generator's source
features); driving frames are read from any iterable, processed in batches
and yielded one at a time, so memory stays flat however long the video.

The engine runs an inference copy of the model (:mod:`fomm_nb.optimize`:
BatchNorm folded, up blocks without upsampling, Winograd convolutions on
CPU, channels_last), made once per model and reused while the model's
weights are unchanged. Its frames equal the published per-frame loop's
within 1e-4 in float32 (about 1e-6 measured). ``precision="bfloat16"`` or ``"float16"`` runs the
generator under autocast (the keypoint detector stays float32);
``compile=True`` wraps the generator in :func:`torch.compile`. On CUDA,
frames travel through pinned memory and copies overlap the next batch.

Example:
    >>> import numpy as np
    >>> from fomm_nb.hub import get_model
    >>> model = get_model("demo", device="cpu")  # the bundled 64x64 model
    >>> source = np.random.rand(64, 64, 3).astype(np.float32)
    >>> driving = [np.random.rand(64, 64, 3).astype(np.float32) for _ in range(4)]
    >>> frames = animate(model, source, driving)
    >>> frames.shape
    (4, 64, 64, 3)
"""

import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from itertools import chain
from typing import Any

import numpy as np
import torch

from .config import DEFAULT_BATCH_SIZE
from .errors import InputError
from .geometry import deform
from .media import frames_to_tensor, tensor_to_frames  # also published here, as before
from .model import FirstOrderModel
from .motion import MotionOptions, check_keypoints, transfer_motion
from .optimize import optimize_for_inference
from .runtime import MMAP_THRESHOLD, release_large_blocks, torch_threads  # also published here
from .tracks import MotionTrack
from .tracks.replay import extract_track, stream_track
from .types import DenseMotion, GeneratorOutput, Keypoints

# MotionOptions lives in fomm_nb.motion; it is published here too, as before.
__all__ = ["MotionOptions", "AnimationEngine", "animate", "inference_network", "torch_threads", "release_large_blocks",
           "PRECISIONS", "MMAP_THRESHOLD"]

#: ``precision`` names and the autocast dtype each one uses (``None``: plain float32).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


class _HostCopy:
    """A ``(T, C, H, W)`` tensor on its way to the host: asynchronous from CUDA, immediate on CPU."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.event = None
        if tensor.device.type == "cuda":
            host = torch.empty_like(tensor, dtype=torch.float32, device="cpu", pin_memory=True)
            tensor = host.copy_(tensor, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        self.tensor = tensor

    def frames(self) -> np.ndarray:
        if self.event is not None:
            self.event.synchronize()
        return tensor_to_frames(self.tensor)


def _fields(data: Any, function: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``data`` (typed or a dict) of the same type, ``function`` applied to each tensor field."""
    return type(data)(**{key: function(value) for key, value in data.items()})


#: Inference copies of the models in use: model -> (weights' fingerprint and options, copy).
_NETWORKS = weakref.WeakKeyDictionary()


def inference_network(model: FirstOrderModel, winograd: bool = True) -> FirstOrderModel:
    """The :func:`~fomm_nb.optimize.optimize_for_inference` copy of ``model``, made once.

    The copy is remade when the model's weights change (in place, by a
    training step or ``load_state_dict``, or by a move to another device),
    so engines made one after another (a widget's new source) share it.
    Weights made under :func:`torch.inference_mode` have no version counter:
    for them only a move or a new tensor is seen (they cannot be trained).

    Example:
        >>> from fomm_nb.hub import get_model
        >>> model = get_model("demo", device="cpu")
        >>> inference_network(model) is inference_network(model)
        True
    """
    tensors = chain(model.parameters(), model.buffers())
    key = (tuple((tensor.data_ptr(), _version(tensor)) for tensor in tensors), winograd)
    cached = _NETWORKS.get(model)
    if cached is None or cached[0] != key:
        cached = key, optimize_for_inference(model, winograd=winograd)
        _NETWORKS[model] = cached
    return cached[1]


def _version(tensor: torch.Tensor) -> int | None:
    """How many times ``tensor`` was changed in place; ``None`` for inference tensors, which do not count."""
    return None if tensor.is_inference() else tensor._version


class AnimationEngine:
    """Animate one source image by batches of driving frames.

    ``set_source`` runs the source-only work once; ``animate_batch`` and
    ``stream`` reuse it for every driving frame, and ``animate_keypoints``
    paints frames for keypoints given directly (the keypoint explorer). All
    work runs under :func:`torch.inference_mode` on the model's device.

    Args:
        model: a :class:`~fomm_nb.model.FirstOrderModel`; put in eval mode.
        batch_size: frames per batch (:data:`~fomm_nb.config.DEFAULT_BATCH_SIZE`,
            chosen by measurement).
        options: a :class:`~fomm_nb.motion.MotionOptions` (relative motion by
            default); :meth:`render` applies them, set them any time.
        optimize: run :func:`inference_network` (True) or the model as it is.
        precision: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (autocast of
            the generator; float16 is for CUDA).
        num_threads: threads while the engine works (``None``: torch's
            setting), shared between the workers.
        workers: how each batch is shared between threads: it is split into
            this many parts, run at once, each on ``num_threads / workers``
            threads (``None``: 2 on CPU, 1 on CUDA or with ``compile``). Not a
            second batch size: the frames per batch stay ``batch_size``. On a
            small CPU that other processes share, 2 parts of 1 thread each beat
            1 part of 2 threads: no thread waits at a barrier for a core that
            another process holds.
        compile: wrap the generator in :func:`torch.compile`; ``True`` or a mode
            (``"reduce-overhead"``: CUDA graphs). It did not pay on CPU.

    Example:
        >>> from fomm_nb.hub import get_model
        >>> engine = AnimationEngine(get_model("demo", device="cpu"), batch_size=4)
        >>> kp_source = engine.set_source(np.zeros((64, 64, 3), np.float32))  # (H, W, 3) in [0, 1]
        >>> driving_frames = (np.full((64, 64, 3), t / 10, np.float32) for t in range(10))
        >>> [frame.shape for frame in engine.stream(driving_frames)][-1]  # frames come out one by one
        (64, 64, 3)
    """

    def __init__(
        self,
        model: FirstOrderModel,
        batch_size: int = DEFAULT_BATCH_SIZE,
        options: MotionOptions | None = None,
        *,
        optimize: bool = True,
        precision: str = "float32",
        num_threads: int | None = None,
        workers: int | None = None,
        compile: bool | str = False,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model = model.eval()
        self.batch_size = int(batch_size)
        self.options = options or MotionOptions()
        self.autocast_dtype = PRECISIONS[precision]
        self.num_threads = num_threads
        if workers is None:  # compiled code is not to be entered by two threads at once
            workers = 2 if self.device.type == "cpu" and not compile else 1
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        self.workers = int(workers)
        if self.device.type == "cpu":
            release_large_blocks()
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        # Winograd transforms lose too much precision in 16 bits, and cuDNN has its own.
        winograd = self.device.type == "cpu" and self.autocast_dtype is None
        self.network = inference_network(model, winograd) if optimize else self.model
        self.compile_mode = None if compile in (False, True) else compile
        animate_frames = self.network.generator.animate
        self._animate = torch.compile(animate_frames, mode=self.compile_mode) if compile else animate_frames
        self.kp_source = None
        self.encoding = None
        self.kp_driving_initial = None

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _check_frames(self, tensor: torch.Tensor, what: str) -> torch.Tensor:
        """Frames must have the model's channels and, once a source is set, the source's size."""
        channels = self.model.config.num_channels
        expected = tuple(self.encoding.image.shape[2:]) if self.encoding is not None else tuple(tensor.shape[2:])
        if tensor.shape[1] != channels or tuple(tensor.shape[2:]) != expected:
            size = "x".join(map(str, expected))
            raise InputError(
                f"{what} must be {size} with {channels} channels, got "
                f"{'x'.join(map(str, tensor.shape[2:]))} with {tensor.shape[1]}: resize with fomm_nb.media.fit_frame"
            )
        return tensor

    def _as_tensor(self, frames: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
        tensor = frames if torch.is_tensor(frames) else frames_to_tensor(frames, self.device)
        return self._check_frames(tensor.to(self.device, torch.float32), what)

    @torch.inference_mode()
    def set_source(self, source: np.ndarray | torch.Tensor) -> Keypoints:
        """Encode ``source`` (``(H, W, C)`` array or ``(1, C, H, W)`` tensor) once."""
        self.encoding = None
        tensor = self._as_tensor(source, "the source image")
        with torch_threads(self.num_threads):  # one image: every thread on it
            self.kp_source = self.network.kp_detector(tensor)
            self.encoding = self.network.generator.encode_source(tensor)
        self.kp_driving_initial = None
        return self.kp_source

    def _split(self, function: Callable, batch: Keypoints | dict) -> Any:
        """``function`` of ``batch`` (fields of ``(B, ...)`` tensors), parts of it run on the workers.

        The parts' results (of one type, e.g. :class:`~fomm_nb.types.GeneratorOutput`) are joined again.
        """
        size = len(next(iter(batch.values())))
        threads = self.num_threads or torch.get_num_threads()
        step = -(-size // min(self.workers, threads))
        parts = [_fields(batch, lambda value: value[start : start + step]) for start in range(0, size, step)]
        with torch_threads(threads // len(parts)):
            if len(parts) == 1:
                return function(batch)
            outs = list(self._pool.map(function, parts))
        return type(outs[0])(**{key: torch.cat([out[key] for out in outs]) for key in outs[0]})

    def _detect(self, batch: dict) -> Keypoints:
        with torch.inference_mode():  # thread-local: the workers need it too
            return self.network.kp_detector(batch["frames"])

    @torch.inference_mode()
    def detect(self, frames: np.ndarray | torch.Tensor) -> Keypoints:
        """Keypoints of ``frames`` (``(T, H, W, C)`` array or ``(T, C, H, W)`` tensor), in float32."""
        tensor = self._as_tensor(frames, "driving frames")
        return self._split(self._detect, {"frames": tensor})

    def set_initial_driving(self, frame: np.ndarray | torch.Tensor) -> None:
        """Use ``frame`` as the reference of relative motion (default: the first frame streamed)."""
        self.kp_driving_initial = self.detect(frame)

    def _generate(self, kp_norm: Keypoints) -> GeneratorOutput:
        autocast = nullcontext() if self.autocast_dtype is None else torch.autocast(self.device.type, self.autocast_dtype)
        with torch.inference_mode(), autocast:  # both thread-local: the workers need them too
            out = self._animate(self.encoding, self.kp_source, kp_norm)
        return _fields(out, lambda value: value.float())

    def _require_source(self) -> None:
        if self.encoding is None:
            raise InputError("no source image: call set_source first")

    def _paint(self, kp_norm: Keypoints) -> GeneratorOutput:
        """The generator's output for keypoints ``kp_norm`` already expressed for the source."""
        self._require_source()
        if self.compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        out = self._split(self._generate, kp_norm)
        if self.compile_mode == "reduce-overhead":  # CUDA graphs reuse their outputs' memory
            out = _fields(out, torch.clone)
        return out

    def transfer(self, kp_driving: Keypoints) -> Keypoints:
        """Driving keypoints expressed for the source, by :func:`~fomm_nb.motion.transfer_motion` with ``options``.

        The reference of relative motion is ``kp_driving_initial``; when unset,
        the first of ``kp_driving`` becomes it.
        """
        self._require_source()
        if self.kp_driving_initial is None:
            self.kp_driving_initial = _fields(kp_driving, lambda value: value[:1])
        return transfer_motion(self.kp_source, kp_driving, self.kp_driving_initial, self.options)

    @torch.inference_mode()
    def render(self, kp_driving: Keypoints, return_intermediates: bool = False) -> torch.Tensor | dict:
        """Animate the source by driving keypoints ``(B, K, ...)``: :meth:`transfer` (``options``), then paint.

        Returns the predictions ``(B, C, H, W)`` or, with ``return_intermediates``,
        the :class:`~fomm_nb.types.GeneratorOutput` fields (``prediction``, ``mask``,
        ``sparse_deformed``, ``occlusion_map``, ``deformed``, ``deformation``) as a
        dict, plus ``kp_driving``, ``kp_norm`` (as transferred to the source) and ``kp_source``.
        """
        kp_norm = self.transfer(kp_driving)
        out = self._paint(kp_norm)
        if not return_intermediates:
            return out.prediction
        return {**out, "kp_driving": kp_driving, "kp_norm": kp_norm, "kp_source": self.kp_source}

    @torch.inference_mode()
    def animate_batch(self, driving: np.ndarray | torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | dict:
        """:meth:`detect` then :meth:`render` a batch of driving frames ``(B, C, H, W)`` (tensor) or ``(B, H, W, C)`` (array)."""
        self._require_source()
        return self.render(self.detect(driving), return_intermediates)

    @torch.inference_mode()
    def animate_keypoints(self, kp_norm: Keypoints, return_intermediates: bool = True) -> torch.Tensor | dict:
        """Paint frames for keypoints given directly: no detection, no motion transfer.

        Args:
            kp_norm: ``value`` ``(B, K, 2)`` in ``[-1, 1]`` and, for models with
                Jacobians, ``jacobian`` ``(B, K, 2, 2)``, already expressed for the
                source (as :meth:`transfer` returns them).

        Returns:
            Like :meth:`render`, without ``kp_driving``.

        Example:
            >>> kp = engine.set_source(source)  # doctest: +SKIP
            >>> moved = {**kp, "value": kp["value"] + torch.tensor([0.1, 0.0])}  # doctest: +SKIP
            >>> engine.animate_keypoints(moved)["prediction"].shape  # doctest: +SKIP
            torch.Size([1, 3, 256, 256])
        """
        kp_norm = self._as_keypoints(kp_norm)
        out = self._paint(kp_norm)
        if not return_intermediates:
            return out.prediction
        return {**out, "kp_norm": kp_norm, "kp_source": self.kp_source}

    def _as_keypoints(self, kp: Keypoints) -> Keypoints:
        kp = Keypoints(**{key: torch.as_tensor(kp[key], dtype=torch.float32, device=self.device) for key in kp})
        check_keypoints(kp, self.model.config.num_kp, self.model.config.estimate_jacobian)
        return kp

    # The stages the keypoint explorer and the math notebook show, for keypoints already expressed for the source.

    @property
    def has_dense_motion(self) -> bool:
        """Whether the generator has a dense motion network (masks, sparse motions, occlusion)."""
        return self.network.generator.dense_motion_network is not None

    @property
    def source_for_motion(self) -> torch.Tensor:
        """The source at the dense motion's resolution ``(1, C, h, w)``, as the dense motion network sees it."""
        self._require_source()
        return self.encoding.motion_image

    @torch.inference_mode()
    def dense_motion(self, kp_norm: Keypoints) -> DenseMotion:
        """The dense motion network's prediction (mask, sparse_deformed, deformation, occlusion_map), batch ``B``."""
        self._require_source()
        with torch_threads(self.num_threads):
            return self.network.generator.dense_motion_network.predict(
                self.encoding.motion_image, self.kp_source, self._as_keypoints(kp_norm)
            )

    @torch.inference_mode()
    def heatmap_difference(self, kp_norm: Keypoints) -> torch.Tensor:
        """Keypoint gaussians of ``kp_norm`` minus the source's, background first: ``(B, K+1, h, w)``."""
        size = tuple(self.source_for_motion.shape[2:])
        with torch_threads(self.num_threads):
            return self.network.generator.dense_motion_network.heatmap_difference(
                size, self.kp_source, self._as_keypoints(kp_norm)
            )

    @torch.inference_mode()
    def warp_source(self, deformation: torch.Tensor) -> torch.Tensor:
        """The source ``(B, C, H, W)`` warped by a dense motion ``(B, h, w, 2)``, as the generator warps it."""
        self._require_source()
        source = self.encoding.image.expand(len(deformation), *self.encoding.image.shape[1:])
        return deform(source, deformation)

    def _batches(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        batch = []
        for frame in frames:
            batch.append(np.asarray(frame, dtype=np.float32))
            if len(batch) == self.batch_size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)

    def stream(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield one animated ``(H, W, C)`` float32 frame per driving frame of the iterable ``frames``.

        On CUDA, a batch is copied back while the next one is computed.
        """
        ahead = 1 if self.device.type == "cuda" else 0
        copies = deque()
        for batch in self._batches(frames):
            copies.append(_HostCopy(self.animate_batch(frames_to_tensor(batch, self.device))))
            while len(copies) > ahead:
                yield from copies.popleft().frames()
        while copies:
            yield from copies.popleft().frames()

    def track(self, frames: Iterable[np.ndarray], fps: float = 25.0) -> MotionTrack:
        """The keypoints of driving ``frames`` (an iterable of ``(H, W, C)``) over time, as a
        :class:`~fomm_nb.tracks.MotionTrack` (see :func:`fomm_nb.tracks.replay.extract_track`)."""
        return extract_track(self, frames, fps)

    def stream_track(self, track: MotionTrack) -> Iterator[np.ndarray]:
        """Yield one animated ``(H, W, C)`` frame per frame of ``track`` (see :func:`fomm_nb.tracks.replay.stream_track`)."""
        return stream_track(self, track)


def animate(
    model: FirstOrderModel,
    source: np.ndarray,
    driving: Iterable[np.ndarray],
    options: MotionOptions | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> np.ndarray:
    """Animate ``source`` ``(H, W, C)`` by ``driving`` (an iterable of ``(H, W, C)`` frames).

    Returns a ``(T, H, W, C)`` float32 array. For long videos use
    :meth:`AnimationEngine.stream` with a video writer instead, which keeps
    memory flat.
    """
    engine = AnimationEngine(model, batch_size=batch_size, options=options)
    engine.set_source(source)
    frames = engine.stream(driving)
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, total=len(driving) if hasattr(driving, "__len__") else None, unit="frame")
    return np.stack(list(frames))
