"""Figures of motion tracks over time: positions, Jacobian rotation and scales, speed, jitter, trajectories.

Every function takes :class:`~fomm_nb.tracks.MotionTrack` s and returns a
:class:`~matplotlib.figure.Figure` (not left open in pyplot). Keypoint ``k``
has its colour of :func:`~fomm_nb.plotting.pictures.keypoint_colours`, as in
every other picture; a second track (``compare``, e.g. the smoothed one) is
drawn over the first, dashed lines under solid ones.

Example:
    >>> from fomm_nb.tracks import MotionTrack, smooth
    >>> rng = np.random.default_rng(0)
    >>> track = MotionTrack(rng.normal(0, 0.05, (40, 10, 2)), None, 25.0, "faces-13k", "0" * 16)
    >>> len(plot_track_positions(track, compare=smooth(track, "savgol")).axes)
    2
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..tracks import MotionTrack, jitter, rotation_and_scales, speed
from .pictures import keypoint_colours

__all__ = ["plot_track_positions", "plot_track_jacobians", "plot_track_speed", "plot_jitter", "plot_trajectories"]


def _figure(rows: int, width: float = 9, height: float = 2.2, **options) -> tuple[Figure, np.ndarray]:
    figure, axes = plt.subplots(rows, 1, figsize=(width, height * rows), sharex=True, squeeze=False, **options)
    plt.close(figure)
    return figure, axes[:, 0]


def _chosen(track: MotionTrack, keypoints) -> list[int]:
    return list(range(track.num_kp)) if keypoints is None else list(keypoints)


def _curves(axes, track, compare, series, keypoints, labels):
    """Draw ``series(track)`` ``(T, K, len(axes))`` (and ``compare``'s, solid over dashed) on ``axes``, one panel each."""
    times = np.arange(len(track)) / track.fps
    colours = keypoint_colours(track.num_kp)
    drawn = [(track, "--" if compare is not None else "-", 0.6 if compare is not None else 1.0)]
    if compare is not None:
        drawn.append((compare, "-", 1.0))
    for shown, style, alpha in drawn:
        values = series(shown)
        for panel, ax in enumerate(axes):
            for k in _chosen(track, keypoints):
                ax.plot(times[: len(values)], values[:, k, panel], style, color=colours[k], alpha=alpha, linewidth=1.2)
    for ax, label in zip(axes, labels):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")


def plot_track_positions(track: MotionTrack, compare: MotionTrack | None = None, keypoints=None) -> Figure:
    """Each keypoint's ``x`` and ``y`` (in ``[-1, 1]``) over time; ``compare`` solid over ``track`` dashed."""
    figure, axes = _figure(2)
    _curves(axes, track, compare, lambda shown: shown.value, keypoints, ("x", "y (down)"))
    return figure


def plot_track_jacobians(track: MotionTrack, compare: MotionTrack | None = None, keypoints=None) -> Figure:
    """Each Jacobian's rotation (degrees, unwrapped) and its two scales (polar decomposition) over time."""
    figure, axes = _figure(3)

    def series(shown):
        angle, scales = rotation_and_scales(shown.jacobian)
        return np.concatenate([np.degrees(np.unwrap(np.radians(angle), axis=0))[..., None], scales], axis=-1)

    _curves(axes, track, compare, series, keypoints, ("rotation (deg)", "larger scale", "smaller scale"))
    return figure


def plot_track_speed(track: MotionTrack, compare: MotionTrack | None = None, keypoints=None) -> Figure:
    """Each keypoint's speed (``[-1, 1]`` units per second) between frames."""
    figure, axes = _figure(1, height=2.8)
    _curves(axes, track, compare, lambda shown: speed(shown.value, shown.fps)[..., None], keypoints, ("speed (1/s)",))
    return figure


def plot_jitter(tracks: dict, pixels: int | None = None) -> Figure:
    """Jitter per keypoint (:func:`~fomm_nb.tracks.jitter`) of each named track in ``{name: track}``, as bars.

    ``pixels``: the image size, to show jitter in pixels instead of ``[-1, 1]`` units.
    """
    figure, axes = _figure(1, height=3.0)
    ax = axes[0]
    width = 0.8 / len(tracks)
    unit = 1.0 if pixels is None else (pixels - 1) / 2
    for index, (name, track) in enumerate(tracks.items()):
        values = jitter(track.value) * unit
        ax.bar(np.arange(track.num_kp) + (index - (len(tracks) - 1) / 2) * width, values, width,
               label=f"{name} (mean {values.mean():.3g})")
    ax.set_xticks(range(next(iter(tracks.values())).num_kp))
    ax.set_xlabel("keypoint")
    ax.set_ylabel(f"jitter ({'pixels' if pixels else 'units'} / frame²)")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return figure


def plot_trajectories(track: MotionTrack, compare: MotionTrack | None = None, image: np.ndarray | None = None,
                      keypoints=None, titles=("before smoothing", "after smoothing")) -> Figure:
    """Each keypoint's path in the image plane, over ``image`` ``(H, W, 3)`` if given; ``compare`` in a second panel."""
    shown = [track] if compare is None else [track, compare]
    figure, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 4.2), squeeze=False)
    plt.close(figure)
    colours = keypoint_colours(track.num_kp)
    for ax, path, title in zip(axes[0], shown, titles):
        if image is not None:
            ax.imshow(image, extent=(-1, 1, 1, -1), alpha=0.5)
        for k in _chosen(track, keypoints):
            ax.plot(path.value[:, k, 0], path.value[:, k, 1], color=colours[k], linewidth=1.0)
            ax.plot(*path.value[0, k], "o", color=colours[k], markersize=3)
        ax.set(xlim=(-1, 1), ylim=(1, -1), aspect="equal", title=title if compare is not None else None)
        ax.set_xticks([])
        ax.set_yticks([])
    return figure
