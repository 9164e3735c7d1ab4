"""Filters that smooth a motion track: One-Euro, Savitzky-Golay, Gaussian and a constant-velocity Kalman.

Every filter works on a signal ``(T, C)``: C independent channels sampled at
``fps``. A track becomes such a signal by :func:`track_signal`: for each
keypoint its ``x``, ``y`` and, with Jacobians, the rotation angle (unwrapped
over time) and the three numbers of the log-stretch (:mod:`.polar`). Filtered
Jacobians are therefore always rotations times stretches: their determinants
keep their sign.

* :class:`OneEuro` (Casiez et al., CHI 2012): a low-pass filter whose cut-off
  rises with the signal's speed; still parts are smoothed hard, fast moves
  pass with little delay. Causal (live use: :meth:`OneEuro.stream`).
* :class:`SavitzkyGolay`, :class:`Gaussian`: centred windows, no delay, for
  a whole track offline.
* :class:`Kalman`: position and velocity per channel, constant velocity
  plus random acceleration. Causal.

Defaults were chosen by ``benchmarks/smoothing.py`` (see the README).

Example:
    >>> step = np.r_[np.zeros(10), np.ones(10)][:, None]  # (T, C) = (20, 1)
    >>> OneEuro()(step, fps=25.0)[[9, 10, 11, 19], 0].round(2)
    array([0.  , 0.82, 0.96, 1.  ])
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import savgol_filter

from ..errors import InputError
from .polar import from_polar, to_polar
from .track import MotionTrack

__all__ = ["OneEuro", "SavitzkyGolay", "Gaussian", "Kalman", "FILTERS", "DEFAULT_SMOOTHING", "CAUSAL_SMOOTHING",
           "make_filter", "smooth", "track_signal",
           "signal_track", "KeypointSmoother"]


def _alpha(cutoff, fps):
    """The weight of a new sample in an exponential low-pass at ``cutoff`` Hz."""
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * fps)


class _Causal:
    """A causal filter: ``stream(fps)`` gives a stateful ``step(sample (C,), dt=None) -> (C,)``; a whole signal runs through it.

    ``dt`` is the seconds since the previous sample when samples do not
    arrive at a steady rate (a live camera whose frames are dropped under
    load); ``None`` means ``1 / fps``.
    """

    def __call__(self, signal: np.ndarray, fps: float) -> np.ndarray:
        """Filter ``signal`` ``(T, C)`` sampled at ``fps``: ``(T, C)``."""
        step = self.stream(fps)
        return np.stack([step(sample) for sample in np.asarray(signal, np.float64)])


@dataclass(frozen=True)
class OneEuro(_Causal):
    """The One-Euro filter.

    Attributes:
        min_cutoff: cut-off in Hz when still (lower: smoother, more lag on slow moves).
        beta: how fast the cut-off rises with speed, in Hz per (unit / s) (higher: less lag on fast moves).
        d_cutoff: cut-off in Hz of the low-pass on the speed estimate.
    """

    min_cutoff: float = 1.0
    beta: float = 2.0
    d_cutoff: float = 2.0

    def stream(self, fps: float):
        """A stateful ``step(sample (C,), dt=None) -> (C,)`` for samples arriving at ``fps`` (or ``dt`` seconds apart)."""
        state = {}

        def step(sample, dt=None):
            sample = np.asarray(sample, np.float64)
            if not state:
                state.update(value=sample, speed=np.zeros_like(sample))
                return sample.copy()
            rate = fps if dt is None else 1.0 / max(dt, 1e-6)
            speed = state["speed"] + _alpha(self.d_cutoff, rate) * ((sample - state["value"]) * rate - state["speed"])
            alpha = _alpha(self.min_cutoff + self.beta * np.abs(speed), rate)
            state.update(value=state["value"] + alpha * (sample - state["value"]), speed=speed)
            return state["value"].copy()

        return step


@dataclass(frozen=True)
class Kalman(_Causal):
    """A constant-velocity Kalman filter, one per channel.

    Attributes:
        acceleration: standard deviation of the random acceleration, in units / s^2
            (higher: follows turns sooner, smooths less).
        measurement: standard deviation of the measurement noise, in units.
    """

    acceleration: float = 2.0
    measurement: float = 0.01

    def stream(self, fps: float):
        """A stateful ``step(sample (C,), dt=None) -> (C,)`` for samples arriving at ``fps`` (or ``dt`` seconds apart)."""
        state = {}

        def step(sample, dt=None):
            sample = np.asarray(sample, np.float64)
            if not state:  # every channel starts still, with the same uncertainty, so they share gains
                state.update(mean=np.stack([sample, np.zeros_like(sample)]), covariance=np.diag([self.measurement**2, 1.0]))
                return sample.copy()
            dt = 1.0 / fps if dt is None else dt
            transition = np.array([[1.0, dt], [0.0, 1.0]])
            noise = self.acceleration**2 * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])
            mean = transition @ state["mean"]  # (2, C): position and velocity of each channel
            covariance = transition @ state["covariance"] @ transition.T + noise
            gain = covariance[:, 0] / (covariance[0, 0] + self.measurement**2)  # (2,)
            mean = mean + gain[:, None] * (sample - mean[0])
            covariance = covariance - np.outer(gain, covariance[0])
            state.update(mean=mean, covariance=covariance)
            return mean[0].copy()

        return step


@dataclass(frozen=True)
class SavitzkyGolay:
    """A centred Savitzky-Golay filter (offline): a polynomial of ``order`` fitted over ``window`` frames.

    Attributes:
        window: frames in the window (odd; shortened for shorter tracks).
        order: degree of the local polynomial (2 keeps peaks better than a mean).
    """

    window: int = 9
    order: int = 2

    def __call__(self, signal: np.ndarray, fps: float) -> np.ndarray:
        """Filter ``signal`` ``(T, C)``: ``(T, C)`` (``fps`` is unused: the window is in frames)."""
        signal = np.asarray(signal, np.float64)
        window = min(self.window, len(signal) - (1 - len(signal) % 2))
        if window <= self.order:
            return signal.copy()
        return savgol_filter(signal, window, self.order, axis=0, mode="interp")


@dataclass(frozen=True)
class Gaussian:
    """A centred Gaussian filter (offline) of standard deviation ``sigma`` frames."""

    sigma: float = 1.5

    def __call__(self, signal: np.ndarray, fps: float) -> np.ndarray:
        """Filter ``signal`` ``(T, C)``: ``(T, C)``."""
        return gaussian_filter1d(np.asarray(signal, np.float64), self.sigma, axis=0, mode="nearest")


#: Filters by the names the command line and the apps use.
FILTERS = {"one-euro": OneEuro, "savgol": SavitzkyGolay, "gaussian": Gaussian, "kalman": Kalman}

#: The filter of :func:`smooth` and of a bare ``--smooth``, chosen from benchmarks/smoothing.py's table (50
#: held-out videos): it cut the animated landmarks' jitter on webcam-degraded frames by 85.0% and changed L1 and
#: AKD on clean frames by -0.3% and -1.4%. The causal One-Euro cut 73%, but its frame of lag cost 16% L1 on
#: clean frames, so it is kept for frames that arrive one at a time (:data:`CAUSAL_SMOOTHING`).
DEFAULT_SMOOTHING = "savgol"

#: The filter for frames one at a time (the live camera, :class:`KeypointSmoother`): causal and adaptive.
CAUSAL_SMOOTHING = "one-euro"


def make_filter(name: str, **params):
    """The filter called ``name`` (see :data:`FILTERS`) with ``params``; ``"none"`` gives None.

    Example:
        >>> make_filter("one-euro", beta=1.0)
        OneEuro(min_cutoff=1.0, beta=1.0, d_cutoff=2.0)
    """
    if name in (None, "none"):
        return None
    if name not in FILTERS:
        raise InputError(f"unknown filter {name!r}: choose one of none, {', '.join(FILTERS)}")
    try:
        return FILTERS[name](**params)
    except TypeError:
        raise InputError(f"the {name} filter takes {', '.join(FILTERS[name].__dataclass_fields__)}, got {sorted(params)}") from None


def track_signal(value: np.ndarray, jacobian: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Keypoints over time -> a signal ``(T, K * F)`` (F = 2, or 6 with Jacobians) and the determinants' signs ``(T, K)``.

    Per keypoint the channels are ``x, y`` and, with Jacobians, the unwrapped
    rotation angle and ``L00, L01, L11`` of the log-stretch.
    """
    channels = [np.asarray(value, np.float64)]
    sign = None
    if jacobian is not None:
        angle, log_stretch, sign = to_polar(jacobian)
        channels += [np.unwrap(angle, axis=0)[..., None], log_stretch]
    features = np.concatenate(channels, axis=-1)  # (T, K, F)
    return features.reshape(len(features), -1), sign


def signal_track(signal: np.ndarray, sign: np.ndarray | None, num_kp: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The inverse of :func:`track_signal`: ``value`` ``(T, K, 2)`` and ``jacobian`` ``(T, K, 2, 2)`` or None."""
    features = np.asarray(signal).reshape(len(signal), num_kp, -1)
    value = features[..., :2].astype(np.float32)
    if sign is None:
        return value, None
    return value, from_polar(features[..., 2], features[..., 3:6], sign).astype(np.float32)


def smooth(track: MotionTrack, method=DEFAULT_SMOOTHING, **params) -> MotionTrack:
    """``track`` smoothed by a filter (a name of :data:`FILTERS` with ``params``, or a filter); ``"none"``: as it is.

    The filter's name and parameters are added to the track's ``metadata["smoothing"]``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> noisy = MotionTrack(rng.normal(0, 0.01, (50, 10, 2)), None, 25.0, "faces-13k", "0" * 16)
        >>> from fomm_nb.tracks.measures import jitter
        >>> bool(jitter(smooth(noisy, "savgol").value).mean() < jitter(noisy.value).mean() / 2)
        True
    """
    chosen = make_filter(method, **params) if isinstance(method, str) or method is None else method
    if chosen is None:
        return track
    signal, sign = track_signal(track.value, track.jacobian)
    value, jacobian = signal_track(chosen(signal, track.fps), sign, track.num_kp)
    return track.replace(value=value, jacobian=jacobian, metadata={**track.metadata, "smoothing": repr(chosen)})


class KeypointSmoother:
    """Smooth keypoints as they arrive, one frame at a time (a live camera): a causal filter over :func:`track_signal`.

    Example:
        >>> smoother = KeypointSmoother("one-euro", fps=25.0)
        >>> value, jacobian = smoother(np.zeros((10, 2)), np.tile(np.eye(2), (10, 1, 1)))
        >>> value.shape, jacobian.shape
        ((10, 2), (10, 2, 2))
    """

    def __init__(self, method=CAUSAL_SMOOTHING, fps: float = 25.0, **params):
        chosen = make_filter(method, **params) if isinstance(method, str) else method
        if not isinstance(chosen, _Causal):
            raise InputError(f"{method!r} is not a causal filter; frames one at a time need one-euro or kalman")
        self.step = chosen.stream(fps)
        self.angle = None

    def __call__(self, value: np.ndarray, jacobian: np.ndarray | None = None, dt: float | None = None):
        """``value`` ``(K, 2)`` and ``jacobian`` ``(K, 2, 2)`` or None -> the smoothed pair.

        ``dt``: seconds since the previous frame, for frames that do not arrive at the steady ``fps``.
        """
        num_kp = len(value)
        signal, sign = track_signal(np.asarray(value)[None], None if jacobian is None else np.asarray(jacobian)[None])
        if sign is not None:  # unwrap each angle against the previous frame's
            features = signal.reshape(num_kp, -1)
            if self.angle is not None:
                features[:, 2] = self.angle + (features[:, 2] - self.angle + np.pi) % (2 * np.pi) - np.pi
            self.angle = features[:, 2].copy()
        smoothed, jacobians = signal_track(self.step(signal[0], dt)[None], sign, num_kp)
        return smoothed[0], None if jacobians is None else jacobians[0]
