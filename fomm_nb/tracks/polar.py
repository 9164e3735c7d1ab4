"""Jacobians as rotation and stretch: the coordinates in which they are smoothed and interpolated.

A keypoint's Jacobian ``J`` (2x2) is a local affine map. Averaging its
entries mixes a rotation by +90 degrees and one by -90 degrees into a
collapse, and can flip the sign of the determinant (turn the patch inside
out). Instead each ``J`` is written by its polar decomposition

    J D = R(angle) P,    P = expm(L)

where ``D = diag(1, sign(det J))`` takes out a reflection, ``R`` is a
rotation, and ``P`` is the symmetric positive-definite stretch whose
logarithm ``L`` (symmetric: three numbers ``L00, L01, L11``) holds the
log-scales (its eigenvalues) and their directions. The angle (unwrapped over
time) and ``L`` can be averaged, filtered or interpolated freely: any values
give back a valid Jacobian ``R(angle) expm(L) D`` whose determinant,
``sign * exp(L00 + L11)``, never changes sign.

Example:
    >>> jacobian = np.array([[[0.0, -2.0], [2.0, 0.0]]])  # a turn by 90 degrees, scaled by 2
    >>> angle, log_stretch, sign = to_polar(jacobian)
    >>> np.degrees(angle).round(3), np.exp(log_stretch).round(3)[..., [0, 2]], sign
    (array([90.]), array([[2., 2.]]), array([1.]))
    >>> np.allclose(from_polar(angle, log_stretch, sign), jacobian)
    True
"""

import numpy as np

__all__ = ["to_polar", "from_polar", "rotation_and_scales"]

_FLOOR = 1e-12  # a degenerate stretch (a patch squashed flat) keeps a finite logarithm


def _symmetric(l00, l01, l11):
    return np.stack([np.stack([l00, l01], -1), np.stack([l01, l11], -1)], -2)


def _rotation(angle):
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def _apply_to_eigenvalues(matrix, function):
    """``function`` of a symmetric ``(..., 2, 2)`` matrix, through its eigen-decomposition."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return (vectors * function(eigenvalues)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def to_polar(jacobian: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(..., 2, 2)`` Jacobians -> ``angle`` ``(...)`` (radians, in ``(-pi, pi]``),
    ``log_stretch`` ``(..., 3)`` (``L00, L01, L11``) and ``sign`` ``(...)`` (+1 or -1) of the determinant.

    Unwrap ``angle`` over time (``np.unwrap(angle, axis=0)``) before filtering it.
    """
    jacobian = np.asarray(jacobian, dtype=np.float64)
    sign = np.where(np.linalg.det(jacobian) < 0, -1.0, 1.0)
    unreflected = jacobian.copy()
    unreflected[..., :, 1] *= sign[..., None]  # J D: the second column flips with a reflection
    angle = np.arctan2(unreflected[..., 1, 0] - unreflected[..., 0, 1], unreflected[..., 0, 0] + unreflected[..., 1, 1])
    stretch = np.swapaxes(_rotation(angle), -1, -2) @ unreflected  # R^T J D = P, symmetric positive semi-definite
    stretch = (stretch + np.swapaxes(stretch, -1, -2)) / 2
    log = _apply_to_eigenvalues(stretch, lambda values: np.log(np.maximum(values, _FLOOR)))
    return angle, np.stack([log[..., 0, 0], log[..., 0, 1], log[..., 1, 1]], -1), sign


def from_polar(angle: np.ndarray, log_stretch: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_polar`: ``(..., 2, 2)`` Jacobians ``R(angle) expm(L) diag(1, sign)``."""
    stretch = _apply_to_eigenvalues(_symmetric(*np.moveaxis(np.asarray(log_stretch, np.float64), -1, 0)), np.exp)
    jacobian = _rotation(np.asarray(angle, np.float64)) @ stretch
    jacobian[..., :, 1] *= np.asarray(sign, np.float64)[..., None]
    return jacobian


def rotation_and_scales(jacobian: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation angle (degrees, ``(...)``) and the two scales, largest first (``(..., 2)``), of ``(..., 2, 2)`` Jacobians.

    Example:
        >>> angle, scales = rotation_and_scales(np.array([[2.0, 0.0], [0.0, 0.5]]))
        >>> float(angle), scales.tolist()
        (0.0, [2.0, 0.5])
    """
    angle, log_stretch, _ = to_polar(jacobian)
    log = _symmetric(*np.moveaxis(log_stretch, -1, 0))
    return np.degrees(angle), np.exp(np.linalg.eigvalsh(log))[..., ::-1]
