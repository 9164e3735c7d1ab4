"""Tracks made or edited from keyframes: keypoints set at a few frames, a smooth motion between them.

Between keyframes each keypoint's ``x`` and ``y`` follow a cubic spline
through the keyframes exactly, starting and ending at rest (zero velocity
at the first and last keyframe, so a move eases in and out); before the
first keyframe and after the last the keypoints hold still. Jacobians are
interpolated as rotation angle and log-stretch (:mod:`.polar`), never entry
by entry, so a turn stays a turn and no patch is turned inside out.

With no driving video at all a classroom can make a face nod: the source's
own keypoints are the neutral pose, :func:`posed` moves them.

Example:
    >>> neutral = Keyframe(0, np.zeros((10, 2)))
    >>> nod = Keyframe(6, posed(neutral, shift=(0.0, 0.1))[0])
    >>> value, _ = interpolate([neutral, nod, Keyframe(12, neutral.value)], num_frames=13)
    >>> value[[0, 3, 6, 9, 12], 0, 1].astype(float).round(3).tolist()
    [0.0, 0.05, 0.1, 0.05, 0.0]
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy.interpolate import CubicSpline

from ..errors import InputError
from .filters import signal_track, track_signal
from .track import MotionTrack, detector_fingerprint

__all__ = ["Keyframe", "interpolate", "track_from_keyframes", "with_keyframes", "posed"]


@dataclass
class Keyframe:
    """Keypoints set at one frame: ``value`` ``(K, 2)`` and ``jacobian`` ``(K, 2, 2)`` or None."""

    frame: int
    value: np.ndarray
    jacobian: np.ndarray | None = None

    def __post_init__(self):
        self.value = np.asarray(self.value, np.float64)
        self.jacobian = None if self.jacobian is None else np.asarray(self.jacobian, np.float64)
        if self.value.ndim != 2 or self.value.shape[1] != 2:
            raise InputError(f"keyframe {self.frame}: value must be (K, 2), got {self.value.shape}")
        if self.jacobian is not None and self.jacobian.shape != (len(self.value), 2, 2):
            raise InputError(f"keyframe {self.frame}: jacobian must be ({len(self.value)}, 2, 2), got {self.jacobian.shape}")

    @classmethod
    def from_keypoints(cls, frame: int, kp) -> "Keyframe":
        """A keyframe of a keypoint dict of batch 1 (``value`` ``(1, K, 2)``, tensors or arrays), e.g. the source's."""
        as_array = lambda key: np.asarray(kp[key].detach().cpu() if torch.is_tensor(kp[key]) else kp[key])[0]
        return cls(frame, as_array("value"), as_array("jacobian") if "jacobian" in kp else None)


def _ordered(keyframes) -> list:
    keyframes = sorted(keyframes, key=lambda keyframe: keyframe.frame)
    if not keyframes:
        raise InputError("no keyframes: give at least one")
    frames = [keyframe.frame for keyframe in keyframes]
    if len(set(frames)) < len(frames):
        raise InputError(f"two keyframes at one frame: {frames}")
    shapes = {(keyframe.value.shape, keyframe.jacobian is None) for keyframe in keyframes}
    if len(shapes) > 1:
        raise InputError("keyframes differ in their number of keypoints or in having Jacobians")
    return keyframes


def _spline(frames, samples, num_frames) -> np.ndarray:
    """``samples`` ``(N, C)`` at ``frames`` through a clamped cubic spline, held outside: ``(num_frames, C)``."""
    if len(frames) == 1:
        return np.repeat(samples, num_frames, axis=0)
    times = np.clip(np.arange(num_frames), frames[0], frames[-1])
    return CubicSpline(frames, samples, bc_type="clamped", axis=0)(times)


def _signal(keyframes):
    """The keyframes as a signal ``(N, K * F)`` (angles unwrapped from keyframe to keyframe) and signs ``(N, K)``."""
    value = np.stack([keyframe.value for keyframe in keyframes])
    jacobian = None if keyframes[0].jacobian is None else np.stack([keyframe.jacobian for keyframe in keyframes])
    return track_signal(value, jacobian)


def interpolate(keyframes, num_frames: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``value`` ``(T, K, 2)`` and ``jacobian`` ``(T, K, 2, 2)`` (or None) through ``keyframes`` over ``num_frames`` frames.

    Raises :class:`InputError` when a keypoint's Jacobian changes the sign of
    its determinant between keyframes (no smooth path of valid maps joins them).
    """
    keyframes = _ordered(keyframes)
    if keyframes[-1].frame >= num_frames or keyframes[0].frame < 0:
        raise InputError(f"keyframes at frames {keyframes[0].frame} to {keyframes[-1].frame}; the track has {num_frames}")
    signal, sign = _signal(keyframes)
    if sign is not None and (sign != sign[0]).any():
        raise InputError("a keypoint's Jacobian flips its determinant's sign between keyframes")
    frames = [keyframe.frame for keyframe in keyframes]
    full_sign = None if sign is None else np.repeat(sign[:1], num_frames, axis=0)
    return signal_track(_spline(frames, signal, num_frames), full_sign, len(keyframes[0].value))


def track_from_keyframes(keyframes, num_frames: int, model: torch.nn.Module, fps: float = 25.0) -> MotionTrack:
    """A track for ``model`` through ``keyframes`` (see :func:`interpolate`); relative motion starts at frame 0.

    Example:
        >>> from fomm_nb.hub import get_model
        >>> model = get_model("demo")
        >>> still = Keyframe(0, np.zeros((10, 2)), np.tile(np.eye(2), (10, 1, 1)))
        >>> track_from_keyframes([still], num_frames=5, model=model).value.shape
        (5, 10, 2)
    """
    value, jacobian = interpolate(keyframes, num_frames)
    frames = sorted(keyframe.frame for keyframe in keyframes)
    return MotionTrack(value, jacobian, fps, model.config.name, detector_fingerprint(model), 0, {"keyframes": frames})


def with_keyframes(track: MotionTrack, keyframes) -> MotionTrack:
    """``track`` changed to pass exactly through ``keyframes``, keeping the rest of its motion.

    The change at each keyframe (keyframe minus track, in angle and
    log-stretch for Jacobians) is interpolated like a track and added to
    every frame, so the motion between keyframes keeps its detail.

    Example:
        >>> track = MotionTrack(np.zeros((9, 10, 2)), None, 25.0, "faces-13k", "0" * 16)
        >>> edited = with_keyframes(track, [Keyframe(4, np.full((10, 2), 0.2))])
        >>> edited.value[4, 0].astype(float).round(6).tolist(), edited.metadata["keyframes"]
        ([0.2, 0.2], [4])
    """
    keyframes = _ordered(keyframes)
    if keyframes[0].value.shape != track.value.shape[1:] or (keyframes[0].jacobian is None) != (track.jacobian is None):
        raise InputError(f"keyframes must have the track's keypoints: value {track.value.shape[1:]}"
                         f"{'' if track.jacobian is None else ' and Jacobians'}")
    frames = [keyframe.frame for keyframe in keyframes]
    if frames[0] < 0 or frames[-1] >= len(track):
        raise InputError(f"keyframes at frames {frames[0]} to {frames[-1]}; the track has {len(track)}")
    base, base_sign = track_signal(track.value, track.jacobian)
    target, target_sign = _signal(keyframes)
    if base_sign is not None and (target_sign != base_sign[frames]).any():
        raise InputError("a keyframe's Jacobian has a determinant of the other sign than the track's at its frame")
    change = target - base[frames]
    if base_sign is not None:  # angles: the shorter way round
        angles = change.reshape(len(frames), track.num_kp, -1)[..., 2]
        angles[...] = (angles + np.pi) % (2 * np.pi) - np.pi
    value, jacobian = signal_track(base + _spline(frames, change, len(track)), base_sign, track.num_kp)
    return track.replace(value=value, jacobian=jacobian,
                         metadata={**track.metadata, "keyframes": sorted({*track.metadata.get("keyframes", []), *frames})})


def posed(keyframe: Keyframe, shift=(0.0, 0.0), turn: float = 0.0, scale: float = 1.0, keypoints=None):
    """``value`` ``(K, 2)`` and ``jacobian`` of ``keyframe`` moved: turned by ``turn`` degrees and scaled about
    the chosen keypoints' centre, then shifted by ``shift`` (in ``[-1, 1]`` units, y down).

    ``keypoints``: indices to move (default: all); the others stay. Their
    Jacobians turn and scale with them.

    Example:
        >>> value, _ = posed(Keyframe(0, [[0.1, 0.0], [-0.1, 0.0]]), turn=90)
        >>> np.allclose(value, [[0.0, 0.1], [0.0, -0.1]])
        True
    """
    chosen = np.zeros(len(keyframe.value), bool)
    chosen[slice(None) if keypoints is None else list(keypoints)] = True
    angle = np.radians(turn)
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = keyframe.value[chosen].mean(0)
    value = keyframe.value.copy()
    value[chosen] = (value[chosen] - centre) @ linear.T + centre + np.asarray(shift, np.float64)
    jacobian = None
    if keyframe.jacobian is not None:
        jacobian = keyframe.jacobian.copy()
        jacobian[chosen] = linear @ jacobian[chosen]
    return value, jacobian
