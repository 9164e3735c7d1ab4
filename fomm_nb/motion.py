"""Motion transfer: turn driving keypoints into keypoints for the source image.

*Absolute* transfer uses the driving keypoints as they are; it works when the
source and driving objects look alike and stand alike. *Relative* transfer
(the published default) applies only the driving keypoints' movement since
the initial driving frame to the source keypoints:

    value    = p_S + s (p_D,t - p_D,0)
    jacobian = J_D,t J_D,0^-1 J_S

where ``s`` is 1, or with ``adapt_movement_scale`` the ratio of the square
roots of the keypoints' convex-hull areas, source over initial driving.

One function does it, :func:`transfer_motion`, steered by one
:class:`MotionOptions`; its ``relative`` also blends continuously between
the two (0 absolute, 1 relative: a slider), and ``movement_scale``
multiplies the movement. :func:`normalize_kp` is the published name and
keywords for the same function.

Keypoints are :class:`~fomm_nb.types.Keypoints` (or dicts) with ``value``
``(B, K, 2)`` and optionally ``jacobian`` ``(B, K, 2, 2)``.
"""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError

from .errors import InputError
from .geometry import inverse_2x2
from .types import Keypoints

__all__ = [
    "MotionOptions",
    "transfer_motion",
    "normalize_kp",
    "movement_scale_ratio",
    "freeze_keypoints",
    "hull_area",
    "check_keypoints",
]


def check_keypoints(kp: Keypoints, num_kp: int, with_jacobian: bool) -> None:
    """Raise :class:`InputError` unless ``kp`` is a keypoint dict a model with ``num_kp`` keypoints can take.

    ``kp["value"]`` must be ``(B, num_kp, 2)`` and, when ``with_jacobian``,
    ``kp["jacobian"]`` ``(B, num_kp, 2, 2)``.

    Example:
        >>> check_keypoints({"value": torch.zeros(1, 5, 2)}, num_kp=10, with_jacobian=False)
        Traceback (most recent call last):
        ...
        fomm_nb.errors.InputError: keypoint 'value' must have shape (B, 10, 2) for this model, got (1, 5, 2)
    """
    expected = {"value": (num_kp, 2), **({"jacobian": (num_kp, 2, 2)} if with_jacobian else {})}
    for key, shape in expected.items():
        if key not in kp:
            raise InputError(f"keypoints without '{key}': this model needs {key} (B, {', '.join(map(str, shape))})")
        actual = tuple(kp[key].shape)
        if len(actual) != len(shape) + 1 or actual[1:] != shape:
            raise InputError(f"keypoint '{key}' must have shape (B, {', '.join(map(str, shape))}) for this model, got {actual}")


def hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of ``points`` ``(K, 2)``; 0 for degenerate sets."""
    try:
        return ConvexHull(points).volume  # in 2-D, 'volume' is the area
    except (QhullError, ValueError):
        return 0.0


def movement_scale_ratio(kp_source: Keypoints, kp_driving_initial: Keypoints) -> float:
    """sqrt(hull area of source keypoints) / sqrt(hull area of initial driving keypoints).

    Computed on the first item of the batch, as published. Degenerate
    keypoint sets (fewer than 3 points, all on a line) give 1.

    Example:
        >>> square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
        >>> movement_scale_ratio({"value": square}, {"value": square / 2})
        2.0
    """
    source_area = hull_area(kp_source["value"][0].detach().cpu().double().numpy())
    driving_area = hull_area(kp_driving_initial["value"][0].detach().cpu().double().numpy())
    if source_area <= 0 or driving_area <= 0:
        return 1.0
    return float(np.sqrt(source_area) / np.sqrt(driving_area))


@dataclass
class MotionOptions:
    """How driving motion is transferred to the source (see :func:`transfer_motion`).

    Attributes:
        relative: where the keypoints are placed, from 0 (absolute: the driving
            keypoints as they are) to 1 (relative, the published default);
            values between blend the two (a slider). ``True``/``False`` mean 1/0.
        adapt_movement_scale: scale movement by the keypoints' convex-hull ratio
            (:func:`movement_scale_ratio`).
        use_relative_jacobian: transfer the change of the Jacobians too (relative part).
        movement_scale: multiplies the movement since the initial driving frame.
        frozen: one flag per keypoint; a frozen keypoint keeps its initial driving position.

    Example:
        >>> MotionOptions(relative=False).relative
        0.0
        >>> MotionOptions(relative=2)
        Traceback (most recent call last):
        ...
        fomm_nb.errors.InputError: relative must lie in [0, 1] (0 absolute, 1 relative), got 2.0
    """

    relative: float = 1.0
    adapt_movement_scale: bool = False
    use_relative_jacobian: bool = True
    movement_scale: float = 1.0
    frozen: Sequence[bool] | torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.relative = _placement(self.relative)

    def apply(self, kp_source: Keypoints, kp_driving: Keypoints, kp_driving_initial: Keypoints) -> Keypoints:
        """``transfer_motion(kp_source, kp_driving, kp_driving_initial, self)``."""
        return transfer_motion(kp_source, kp_driving, kp_driving_initial, self)


def _placement(relative: float) -> float:
    """``relative`` as a float in [0, 1] (``True``/``False``: 1/0), or an :class:`InputError`."""
    value = float(relative)
    if not 0.0 <= value <= 1.0:
        raise InputError(f"relative must lie in [0, 1] (0 absolute, 1 relative), got {value}")
    return value


def transfer_motion(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    options: MotionOptions | None = None,
) -> Keypoints:
    """Driving keypoints expressed for the source: absolute, relative, or in between.

    With ``r = options.relative`` and ``s = options.movement_scale``:

        value    = (1 - r) p_D,0 + r p_S + s ((1 - r) + r a) (p_D,t - p_D,0)
        jacobian = (1 - r) J_D,t + r J_D,t J_D,0^-1 J_S

    where ``a`` is 1, or with ``adapt_movement_scale`` :func:`movement_scale_ratio`.
    At ``r = 1`` (relative) this is ``p_S + s a (p_D,t - p_D,0)``: the source
    keypoints moved as the driving ones moved since the initial frame; at
    ``r = 0`` and ``s = 1`` (absolute) the driving keypoints unchanged.
    Frozen keypoints are held at their initial driving position first.

    Args:
        kp_source: keypoints of the source image (batch 1, or the driving batch).
        kp_driving: keypoints of the driving frames ``(B, K, ...)``.
        kp_driving_initial: keypoints of the initial driving frame (batch 1).
        options: a :class:`MotionOptions` (relative transfer by default).

    Returns:
        New :class:`~fomm_nb.types.Keypoints` (``value`` and, if present, ``jacobian``).

    Example:
        >>> kp_s = Keypoints(torch.zeros(1, 1, 2))
        >>> kp_0 = Keypoints(torch.full((1, 1, 2), 0.5))
        >>> kp_t = Keypoints(torch.full((1, 1, 2), 0.7))
        >>> transfer_motion(kp_s, kp_t, kp_0).value  # relative: moved by 0.2 from the source's place
        tensor([[[0.2000, 0.2000]]])
        >>> transfer_motion(kp_s, kp_t, kp_0, MotionOptions(relative=0.0)).value
        tensor([[[0.7000, 0.7000]]])
    """
    options = options or MotionOptions()
    blend = _placement(options.relative)
    if kp_source["value"].shape[1:] != kp_driving["value"].shape[1:]:
        raise InputError(
            f"source has {kp_source['value'].shape[1]} keypoints, driving has {kp_driving['value'].shape[1]}"
        )
    if options.frozen is not None:
        kp_driving = freeze_keypoints(kp_driving, kp_driving_initial, options.frozen)
    kp_new = Keypoints(kp_driving["value"], kp_driving.get("jacobian"))
    if blend == 0.0 and options.movement_scale == 1.0:
        return kp_new  # absolute, exactly as published

    adapt = movement_scale_ratio(kp_source, kp_driving_initial) if options.adapt_movement_scale else 1.0
    scale = options.movement_scale * ((1 - blend) + blend * adapt)
    anchor = (1 - blend) * kp_driving_initial["value"] + blend * kp_source["value"]
    kp_new.value = anchor + scale * (kp_driving["value"] - kp_driving_initial["value"])

    if options.use_relative_jacobian and blend > 0 and "jacobian" in kp_driving:
        change = kp_driving["jacobian"] @ inverse_2x2(kp_driving_initial["jacobian"])
        relative = change @ kp_source["jacobian"]
        kp_new.jacobian = relative if blend == 1.0 else (1 - blend) * kp_driving["jacobian"] + blend * relative
    return kp_new


def normalize_kp(
    kp_source: Keypoints,
    kp_driving: Keypoints,
    kp_driving_initial: Keypoints,
    adapt_movement_scale: bool = False,
    use_relative_movement: bool | float = True,
    use_relative_jacobian: bool = True,
    *,
    movement_scale: float = 1.0,
    relative_blend: float | None = None,
) -> Keypoints:
    """The published function, by its published keyword names: :func:`transfer_motion`.

    ``use_relative_movement`` is :attr:`MotionOptions.relative` (a bool, or a
    blend in ``[0, 1]``). ``relative_blend`` is its older name, still
    accepted (deprecated): when given, it replaces ``use_relative_movement``.

    Example:
        >>> kp_s, kp_0, kp_t = ({"value": torch.full((1, 1, 2), v)} for v in (0.0, 0.5, 0.7))
        >>> normalize_kp(kp_s, kp_t, kp_0)["value"]
        tensor([[[0.2000, 0.2000]]])
        >>> normalize_kp(kp_s, kp_t, kp_0, use_relative_movement=False)["value"]
        tensor([[[0.7000, 0.7000]]])
    """
    if relative_blend is not None:
        warnings.warn("normalize_kp(relative_blend=...) is now use_relative_movement=...", DeprecationWarning, stacklevel=2)
        use_relative_movement = relative_blend
    options = MotionOptions(
        relative=use_relative_movement,
        adapt_movement_scale=adapt_movement_scale,
        use_relative_jacobian=use_relative_jacobian,
        movement_scale=movement_scale,
    )
    return transfer_motion(kp_source, kp_driving, kp_driving_initial, options)


def freeze_keypoints(
    kp_driving: Keypoints, kp_driving_initial: Keypoints, frozen: Sequence[bool] | torch.Tensor
) -> Keypoints:
    """Hold the keypoints selected by ``frozen`` at their initial driving position.

    Args:
        frozen: boolean sequence or tensor of length K; True holds keypoint k still.

    Example:
        >>> kp_t = {"value": torch.ones(1, 2, 2)}
        >>> kp_0 = {"value": torch.zeros(1, 2, 2)}
        >>> freeze_keypoints(kp_t, kp_0, [True, False])["value"][0, :, 0]
        tensor([0., 1.])
    """
    mask = torch.as_tensor(frozen, dtype=torch.bool, device=kp_driving["value"].device)
    if mask.shape != kp_driving["value"].shape[1:2]:
        raise InputError(f"frozen needs one flag per keypoint ({kp_driving['value'].shape[1]}), got {tuple(mask.shape)}")
    held = Keypoints(kp_driving["value"], kp_driving.get("jacobian"))
    for key, tensor in held.items():
        initial = kp_driving_initial[key].expand_as(tensor)
        selector = mask.view(1, -1, *([1] * (tensor.dim() - 2)))
        held[key] = torch.where(selector, initial, tensor)
    return held
