"""Helpers for the classroom notebook (``notebooks/02_the_math.ipynb``): the detector's logits, the
softmax at any temperature, and pictures of the coordinate grid, the temperature, the reference frame
and the equivariance warp.

The notebook computes the formulas itself, on tensors; these helpers only
expose what it needs from the model and draw what it computed.

Example:
    >>> heat = spatial_softmax(torch.zeros(1, 1, 3, 3), temperature=0.1)
    >>> spatial_expectation(heat).abs().max() < 1e-6  # a flat heatmap's expectation is the centre
    tensor(True)
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

# spatial_softmax and spatial_expectation are the detector's own (fomm_nb.geometry), shown here for the notebook.
from .geometry import inverse_2x2, make_coordinate_grid, spatial_expectation, spatial_softmax
from .modules.keypoint_detector import KPDetector
from .plotting import as_image, heatmap_image, keypoint_colours, plot_keypoints, to_pixels
from .types import Keypoints

__all__ = [
    "detector_logits",
    "spatial_softmax",
    "spatial_expectation",
    "local_grid",
    "plot_coordinate_grid",
    "plot_temperatures",
    "plot_reference_frame",
    "plot_equivariance",
]


@torch.no_grad()
def detector_logits(detector: KPDetector, image: torch.Tensor) -> torch.Tensor:
    """The keypoint detector's heatmap logits before the softmax: ``(B, K, h, w)``.

    ``softmax(logits / detector.temperature)`` over each map is the
    detector's ``heatmap``; its expectation over the coordinate grid is the
    keypoint ``value``.

    Args:
        detector: a :class:`~fomm_nb.modules.keypoint_detector.KPDetector`.
        image: ``(B, C, H, W)`` in [0, 1].

    Example:
        >>> logits = detector_logits(model.kp_detector, image)  # doctest: +SKIP
        >>> logits.shape  # doctest: +SKIP
        torch.Size([1, 10, 26, 26])
    """
    return detector.logits(image)


def local_grid(centre: np.ndarray, radius: float = 0.15, lines: int = 5, points: int = 21) -> np.ndarray:
    """Polylines of a small square grid around ``centre`` ``(2,)``: ``(2 * lines, points, 2)`` in [-1, 1] units.

    Example:
        >>> local_grid(np.zeros(2), radius=1.0, lines=3, points=2)[0]
        array([[-1., -1.],
               [ 1., -1.]])
    """
    ticks = np.linspace(-radius, radius, lines)
    along = np.linspace(-radius, radius, points)
    horizontal = [np.stack([along, np.full_like(along, t)], -1) for t in ticks]
    vertical = [np.stack([np.full_like(along, t), along], -1) for t in ticks]
    return np.asarray(centre, np.float64)[None, None] + np.stack(horizontal + vertical)


def _numpy(value):
    return value.detach().float().cpu().numpy() if torch.is_tensor(value) else np.asarray(value, np.float32)


def plot_coordinate_grid(spatial_size: tuple[int, int] = (9, 9)) -> Figure:
    """The coordinate grid ``(h, w, 2)``: its x and y channels, and the points it names.

    Example:
        >>> len(plot_coordinate_grid((5, 5)).axes) >= 3
        True
    """
    grid = make_coordinate_grid(spatial_size).numpy()
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    plt.close(figure)
    for ax, channel, name in zip(axes[:2], (0, 1), ("x", "y")):
        shown = ax.imshow(grid[..., channel], cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_title(f"channel {channel}: {name}", fontsize=9)
        ax.set_xlabel("column j")
        ax.set_ylabel("row i")
        figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    axes[2].scatter(grid[..., 0].ravel(), grid[..., 1].ravel(), s=8)
    axes[2].set_xlim(-1.1, 1.1)
    axes[2].set_ylim(1.1, -1.1)  # y points down, as in images
    axes[2].set_aspect("equal")
    axes[2].set_title("the points z, (x, y) in [-1, 1]", fontsize=9)
    figure.tight_layout()
    return figure


def plot_temperatures(
    image: torch.Tensor,
    logits: torch.Tensor,
    k: int,
    temperatures: Sequence[float],
    true_temperature: float | None = None,
) -> Figure:
    """Keypoint ``k``'s softmax heatmap at several temperatures, over ``image``, its expectation marked.

    Args:
        image: ``(H, W, 3)`` array or ``(1, C, H, W)`` tensor.
        logits: ``(1, K, h, w)`` from :func:`detector_logits`.
        k: the keypoint.
        temperatures: the temperatures to draw, one panel each.
        true_temperature: the model's own temperature (its panel is labelled).

    Example:
        >>> figure = plot_temperatures(np.zeros((8, 8, 3)), torch.rand(1, 2, 4, 4), 1, [0.1, 1.0])
        >>> len(figure.axes)
        2
    """
    base = as_image(image)
    figure, axes = plt.subplots(1, len(temperatures), figsize=(2.6 * len(temperatures), 2.9), squeeze=False)
    plt.close(figure)
    colour = keypoint_colours(logits.shape[1])[k]
    for ax, temperature in zip(axes[0], temperatures):
        heat = spatial_softmax(logits[:, k : k + 1], temperature)  # (1, 1, h, w)
        point = spatial_expectation(heat)[0, 0]
        picture = heatmap_image(heat[0, 0].numpy())
        ax.imshow(base)
        ax.imshow(picture, alpha=0.65, extent=(-0.5, base.shape[1] - 0.5, base.shape[0] - 0.5, -0.5))
        x, y = to_pixels(point, base.shape[:2])
        ax.scatter([x], [y], c=[colour], s=60, marker="X", edgecolors="white", linewidths=1)
        label = " (the model's)" if true_temperature is not None and np.isclose(temperature, true_temperature) else ""
        ax.set_title(f"τ = {temperature:g}{label}\np = ({point[0]:+.2f}, {point[1]:+.2f})", fontsize=9)
        ax.axis("off")
    figure.tight_layout()
    return figure


def plot_reference_frame(
    source: torch.Tensor,
    driving: torch.Tensor,
    kp_source: Keypoints,
    kp_driving: Keypoints,
    k: int,
    radius: float = 0.15,
) -> Figure:
    """How keypoint ``k``'s local affine maps carry a small grid from D through R to S.

    Left: a grid around ``T_D<-R(p_k)`` in the driving frame. Middle: the same
    points in the abstract reference frame R, ``J_D,k^-1 (z - T_D<-R(p_k))``
    (R's keypoint drawn at the origin, its Jacobian the identity). Right: in the
    source, ``T_S<-R(p_k) + J_S,k r``; the composition is the sparse motion
    ``T_S<-R(p_k) + J_S,k J_D,k^-1 (z - T_D<-R(p_k))``.

    Args:
        source, driving: ``(H, W, 3)`` images.
        kp_source, kp_driving: dicts with ``value`` ``(1, K, 2)`` and ``jacobian`` ``(1, K, 2, 2)``.

    Example:
        >>> kp = {"value": torch.zeros(1, 1, 2), "jacobian": torch.eye(2)[None, None]}
        >>> len(plot_reference_frame(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), kp, kp, 0).axes)
        3
    """
    p_s, p_d = _numpy(kp_source["value"])[0, k], _numpy(kp_driving["value"])[0, k]
    j_s, j_d = _numpy(kp_source["jacobian"])[0, k], _numpy(kp_driving["jacobian"])[0, k]
    j_d_inverse = _numpy(inverse_2x2(torch.as_tensor(j_d)))
    colour = keypoint_colours(_numpy(kp_source["value"]).shape[1])[k]
    in_driving = local_grid(p_d, radius)  # (L, N, 2)
    in_reference = np.einsum("ij,lnj->lni", j_d_inverse, in_driving - p_d)
    in_source = p_s + np.einsum("ij,lnj->lni", j_s, in_reference)

    figure, axes = plt.subplots(1, 3, figsize=(10.5, 3.6))
    plt.close(figure)
    panels = ((axes[0], driving, in_driving, "driving frame D: z near T_D←R(p_k)"),
              (axes[1], None, in_reference, "reference frame R: J_D,k⁻¹ (z − T_D←R(p_k))"),
              (axes[2], source, in_source, "source S: T_S←R(p_k) + J_S,k r"))
    for ax, image, lines, title in panels:
        if image is None:
            ax.set_facecolor((0.95, 0.95, 0.95))
            scale = np.abs(lines).max() * 1.3
            ax.set_xlim(-scale, scale)
            ax.set_ylim(scale, -scale)
            ax.set_aspect("equal")
            ax.scatter([0], [0], c=[colour], s=50, edgecolors="black")
            ax.set_xticks([])
            ax.set_yticks([])
            points = lines
        else:
            picture = as_image(image)
            ax.imshow(picture)
            ax.axis("off")
            points = to_pixels(lines, picture.shape[:2])
            centre = to_pixels(lines.mean((0, 1)), picture.shape[:2])
            ax.scatter([centre[0]], [centre[1]], c=[colour], s=50, edgecolors="black", zorder=3)
        for line in points:
            ax.plot(line[:, 0], line[:, 1], color=colour, linewidth=1)
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_equivariance(
    image: torch.Tensor,
    warped: torch.Tensor,
    kp: torch.Tensor,
    kp_warped: torch.Tensor,
    kp_mapped_back: torch.Tensor,
) -> Figure:
    """The equivariance check in three panels: X with its keypoints; the warped image Y with its own;
    X again with ``T_X<-Y`` of Y's keypoints (crosses) over X's (discs).

    Args:
        image, warped: ``(H, W, 3)`` (or ``(1, C, H, W)``) images X and Y.
        kp, kp_warped: ``(K, 2)`` keypoints detected in X and in Y.
        kp_mapped_back: ``(K, 2)``: ``T_X<-Y`` applied to ``kp_warped``.

    Example:
        >>> kp = np.zeros((2, 2))
        >>> len(plot_equivariance(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), kp, kp, kp).axes)
        3
    """
    kp, kp_warped, kp_back = (_numpy(v).reshape(-1, 2) for v in (kp, kp_warped, kp_mapped_back))
    figure, axes = plt.subplots(1, 3, figsize=(9.5, 3.4))
    plt.close(figure)
    plot_keypoints(image, kp, ax=axes[0], labels=False)
    axes[0].set_title("X: keypoints of X", fontsize=9)
    plot_keypoints(warped, kp_warped, ax=axes[1], labels=False)
    axes[1].set_title("Y = X warped: keypoints of Y", fontsize=9)
    plot_keypoints(image, kp, ax=axes[2], labels=False)
    picture = as_image(image)
    back = to_pixels(kp_back, picture.shape[:2])
    axes[2].scatter(back[:, 0], back[:, 1], c=keypoint_colours(len(kp)), marker="x", s=70, linewidths=2, zorder=4)
    axes[2].set_title("X: disc = p, cross = T_X←Y(p of Y)", fontsize=9)
    figure.tight_layout()
    return figure

