"""Pictures of what the model computes: keypoints, Jacobians, heatmaps, masks, flows, crops, videos.

Three modules, one kind of output each, sharing one palette (keypoint ``k``
has colour ``keypoint_colours(K)[k]`` everywhere, and its mask is motion ``k + 1``):

- :mod:`~fomm_nb.plotting.pictures`: numpy pictures ``(H, W, 3)``, fast
  enough for widgets (:func:`render_keypoints_image`, :func:`mask_image`,
  :func:`flow_image`, :func:`heatmap_image`, :func:`tile`).
- :mod:`~fomm_nb.plotting.figures`: matplotlib figures for notebooks and
  reports (``plot_*``, :func:`keypoint_figure`), not left open in pyplot.
- :mod:`~fomm_nb.plotting.tracks`: motion tracks over time (positions, Jacobians, speed,
  jitter, trajectories; :func:`plot_track_positions`, :func:`plot_trajectories`).
- :mod:`~fomm_nb.plotting.videos`: videos as file bytes or inline HTML, with
  captions above each panel (:func:`video_bytes`, :func:`video_html`).

Keypoints are ``(K, 2)`` (or ``(1, K, 2)``) in ``[-1, 1]``, ``(x, y)`` order;
pixel ``= (v + 1) / 2 * (size - 1)``. Jacobians are ``(K, 2, 2)``. Tensors
and numpy arrays are both accepted; a leading batch dimension of 1 is dropped.

Example:
    >>> import numpy as np
    >>> image = np.zeros((64, 64, 3), np.float32)
    >>> kp = np.array([[0.0, 0.0], [0.5, -0.5]])
    >>> render_keypoints_image(image, kp, jacobian=np.stack([np.eye(2)] * 2)).shape
    (64, 64, 3)
    >>> figure = plot_keypoints(image, kp)
"""

from . import figures, pictures, tracks, videos
from .figures import *  # noqa: F403 (each module's __all__ is its public API, listed once)
from .pictures import *  # noqa: F403
from .tracks import *  # noqa: F403
from .videos import *  # noqa: F403

__all__ = [*pictures.__all__, *figures.__all__, *tracks.__all__, *videos.__all__]
