"""The animation engine: one source image, a stream of driving frames.

The source is encoded once (its keypoints and the generator's source
features); driving frames are read from any iterable, processed in batches
and yielded one at a time, so memory stays flat however long the video.

Example:
    >>> import numpy as np
    >>> from fomm_nb.checkpoints import load_model
    >>> model = load_model("../shared/fixtures/official/tiny-mgif.yaml", device="cpu")  # doctest: +SKIP
    >>> source = np.random.rand(128, 128, 3).astype(np.float32)
    >>> driving = [np.random.rand(128, 128, 3).astype(np.float32) for _ in range(4)]
    >>> frames = animate(model, source, driving)  # doctest: +SKIP
    >>> frames.shape  # doctest: +SKIP
    (4, 128, 128, 3)
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import InputError
from .motion import freeze_keypoints, normalize_kp

__all__ = ["MotionOptions", "AnimationEngine", "animate"]


@dataclass
class MotionOptions:
    """How driving motion is transferred to the source (see :func:`fomm_nb.motion.normalize_kp`).

    Attributes:
        relative: relative (published default) or absolute keypoint placement.
        adapt_movement_scale: scale movement by the keypoints' convex-hull ratio.
        use_relative_jacobian: transfer the change of the Jacobians (relative mode).
        relative_blend: a slider value in [0, 1] overriding ``relative``.
        movement_scale: multiplies the movement since the initial driving frame.
        frozen: per-keypoint flags; a frozen keypoint keeps its initial position.
    """

    relative: bool = True
    adapt_movement_scale: bool = False
    use_relative_jacobian: bool = True
    relative_blend: float | None = None
    movement_scale: float = 1.0
    frozen: list | None = field(default=None)

    def apply(self, kp_source, kp_driving, kp_driving_initial):
        """Driving keypoints ``(B, K, ...)`` turned into keypoints for the source."""
        if self.frozen is not None:
            kp_driving = freeze_keypoints(kp_driving, kp_driving_initial, self.frozen)
        return normalize_kp(
            kp_source,
            kp_driving,
            kp_driving_initial,
            adapt_movement_scale=self.adapt_movement_scale,
            use_relative_movement=self.relative,
            use_relative_jacobian=self.use_relative_jacobian,
            relative_blend=self.relative_blend,
            movement_scale=self.movement_scale,
        )


def frames_to_tensor(frames, device):
    """``(T, H, W, C)`` or ``(H, W, C)`` float images in [0, 1] -> ``(T, C, H, W)`` tensor."""
    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise InputError(f"frames must be (H, W, C) or (T, H, W, C) arrays, got shape {array.shape}")
    return torch.from_numpy(array).permute(0, 3, 1, 2).to(device)


def tensor_to_frames(tensor):
    """``(T, C, H, W)`` tensor -> ``(T, H, W, C)`` float32 numpy array."""
    return tensor.detach().float().permute(0, 2, 3, 1).cpu().numpy()


class AnimationEngine:
    """Animate one source image by batches of driving frames.

    ``set_source`` runs the source-only work once; ``animate_batch`` and
    ``stream`` reuse it for every driving frame. All work runs under
    :func:`torch.inference_mode` on the model's device.

    Example:
        >>> engine = AnimationEngine(model, batch_size=8)  # doctest: +SKIP
        >>> engine.set_source(source)  # (H, W, 3) in [0, 1]  # doctest: +SKIP
        >>> for frame in engine.stream(driving_frames):  # doctest: +SKIP
        ...     writer.append(frame)
    """

    def __init__(self, model, batch_size=8, options=None):
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        self.batch_size = int(batch_size)
        self.options = options or MotionOptions()
        self.kp_source = None
        self.encoding = None
        self.kp_driving_initial = None

    @property
    def device(self):
        return self.model.device

    def _check_frames(self, tensor, what):
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

    @torch.inference_mode()
    def set_source(self, source):
        """Encode ``source`` (``(H, W, C)`` array or ``(1, C, H, W)`` tensor) once."""
        tensor = source if torch.is_tensor(source) else frames_to_tensor(source, self.device)
        self.encoding = None
        tensor = self._check_frames(tensor.to(self.device, torch.float32), "the source image")
        self.kp_source = self.model.kp_detector(tensor)
        self.encoding = self.model.generator.encode_source(tensor)
        self.kp_driving_initial = None
        return self.kp_source

    @torch.inference_mode()
    def detect(self, frames):
        """Keypoints of ``frames`` (``(T, H, W, C)`` array or ``(T, C, H, W)`` tensor)."""
        tensor = frames if torch.is_tensor(frames) else frames_to_tensor(frames, self.device)
        return self.model.kp_detector(self._check_frames(tensor.to(self.device, torch.float32), "driving frames"))

    def set_initial_driving(self, frame):
        """Use ``frame`` as the reference of relative motion (default: the first frame streamed)."""
        self.kp_driving_initial = self.detect(frame)

    @torch.inference_mode()
    def animate_batch(self, driving, return_intermediates=False):
        """Animate a batch of driving frames ``(B, C, H, W)`` (tensor) or ``(B, H, W, C)`` (array).

        Returns the predictions ``(B, C, H, W)`` or, with ``return_intermediates``,
        the generator's dict (``prediction``, ``mask``, ``sparse_deformed``,
        ``occlusion_map``, ``deformed``, ``deformation``) plus ``kp_driving`` (as
        detected) and ``kp_norm`` (as transferred to the source).
        """
        if self.encoding is None:
            raise InputError("no source image: call set_source first")
        kp_driving = self.detect(driving)
        if self.kp_driving_initial is None:
            self.kp_driving_initial = {k: v[:1] for k, v in kp_driving.items()}
        kp_norm = self.options.apply(self.kp_source, kp_driving, self.kp_driving_initial)
        out = self.model.generator.animate(self.encoding, self.kp_source, kp_norm)
        if not return_intermediates:
            return out["prediction"]
        out["kp_driving"] = kp_driving
        out["kp_norm"] = kp_norm
        out["kp_source"] = self.kp_source
        return out

    def _batches(self, frames):
        batch = []
        for frame in frames:
            batch.append(np.asarray(frame, dtype=np.float32))
            if len(batch) == self.batch_size:
                yield np.stack(batch)
                batch = []
        if batch:
            yield np.stack(batch)

    def stream(self, frames):
        """Yield one animated ``(H, W, C)`` float32 frame per driving frame of the iterable ``frames``."""
        for batch in self._batches(frames):
            predictions = self.animate_batch(frames_to_tensor(batch, self.device))
            yield from tensor_to_frames(predictions)


def animate(model, source, driving, options=None, batch_size=8, progress=False):
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
