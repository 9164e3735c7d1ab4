"""Motion transfer: turn driving keypoints into keypoints for the source image.

*Absolute* transfer uses the driving keypoints as they are; it works when the
source and driving objects look alike and stand alike. *Relative* transfer
(the published default) applies only the driving keypoints' movement since
the initial driving frame to the source keypoints:

    value    = p_S + s (p_D,t - p_D,0)
    jacobian = J_D,t J_D,0^-1 J_S

where ``s`` is 1, or with ``adapt_movement_scale`` the ratio of the square
roots of the keypoints' convex-hull areas, source over initial driving.

For sliders, :func:`normalize_kp` also blends continuously between the two
(``relative_blend`` from 0 = absolute to 1 = relative) and multiplies the
movement (``movement_scale``).

Keypoint dicts hold ``value`` ``(B, K, 2)`` and optionally ``jacobian``
``(B, K, 2, 2)``.
"""

import numpy as np
import torch
from scipy.spatial import ConvexHull, QhullError

from .errors import InputError
from .geometry import inverse_2x2

__all__ = ["normalize_kp", "movement_scale_ratio", "freeze_keypoints", "hull_area", "check_keypoints"]


def check_keypoints(kp, num_kp, with_jacobian):
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


def hull_area(points):
    """Area of the convex hull of ``points`` ``(K, 2)``; 0 for degenerate sets."""
    try:
        return ConvexHull(points).volume  # in 2-D, 'volume' is the area
    except (QhullError, ValueError):
        return 0.0


def movement_scale_ratio(kp_source, kp_driving_initial):
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


def normalize_kp(
    kp_source,
    kp_driving,
    kp_driving_initial,
    adapt_movement_scale=False,
    use_relative_movement=True,
    use_relative_jacobian=True,
    *,
    relative_blend=None,
    movement_scale=1.0,
):
    """Driving keypoints expressed for the source: absolute, relative, or in between.

    Args:
        kp_source: keypoints of the source image (batch 1, or the driving batch).
        kp_driving: keypoints of the driving frames ``(B, K, ...)``.
        kp_driving_initial: keypoints of the initial driving frame.
        adapt_movement_scale: scale movements by :func:`movement_scale_ratio`.
        use_relative_movement: relative (True) or absolute (False) placement.
        use_relative_jacobian: in relative mode, transfer the Jacobians' change too.
        relative_blend: overrides ``use_relative_movement`` with a blend in
            ``[0, 1]``: 0 is absolute, 1 relative.
        movement_scale: multiplies the movement since the initial frame.

    Returns:
        A new keypoint dict (``value`` and, if present, ``jacobian``).

    Example:
        >>> kp_s = {"value": torch.zeros(1, 1, 2)}
        >>> kp_0 = {"value": torch.full((1, 1, 2), 0.5)}
        >>> kp_t = {"value": torch.full((1, 1, 2), 0.7)}
        >>> normalize_kp(kp_s, kp_t, kp_0)["value"]
        tensor([[[0.2000, 0.2000]]])
        >>> normalize_kp(kp_s, kp_t, kp_0, relative_blend=0.0)["value"]
        tensor([[[0.7000, 0.7000]]])
    """
    blend = (1.0 if use_relative_movement else 0.0) if relative_blend is None else float(relative_blend)
    if not 0.0 <= blend <= 1.0:
        raise InputError(f"relative_blend must lie in [0, 1], got {blend}")
    if kp_source["value"].shape[1:] != kp_driving["value"].shape[1:]:
        raise InputError(
            f"source has {kp_source['value'].shape[1]} keypoints, driving has {kp_driving['value'].shape[1]}"
        )
    kp_new = dict(kp_driving)
    if blend == 0.0 and movement_scale == 1.0:
        return kp_new  # absolute, exactly as published

    adapt = movement_scale_ratio(kp_source, kp_driving_initial) if adapt_movement_scale else 1.0
    scale = movement_scale * ((1 - blend) + blend * adapt)
    anchor = (1 - blend) * kp_driving_initial["value"] + blend * kp_source["value"]
    kp_new["value"] = anchor + scale * (kp_driving["value"] - kp_driving_initial["value"])

    if use_relative_jacobian and blend > 0 and "jacobian" in kp_driving:
        change = kp_driving["jacobian"] @ inverse_2x2(kp_driving_initial["jacobian"])
        relative = change @ kp_source["jacobian"]
        kp_new["jacobian"] = relative if blend == 1.0 else (1 - blend) * kp_driving["jacobian"] + blend * relative
    return kp_new


def freeze_keypoints(kp_driving, kp_driving_initial, frozen):
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
    held = {}
    for key, tensor in kp_driving.items():
        initial = kp_driving_initial[key].expand_as(tensor)
        selector = mask.view(1, -1, *([1] * (tensor.dim() - 2)))
        held[key] = torch.where(selector, initial, tensor)
    return held
