"""Matplotlib figures for notebooks and reports: keypoints, heatmaps, warps, masks, flows, crops.

Each ``plot_*`` returns a :class:`~matplotlib.figure.Figure`, or draws into
the ``ax`` it is given and returns that Axes' figure (:func:`plot_crop`
returns the Axes, as it always has). Figures are not left open in pyplot, so
a figure returned by the last line of a cell is shown once. The colours are
those of :mod:`fomm_nb.plotting.pictures`.

Example:
    >>> figure = plot_keypoints(np.zeros((64, 64, 3)), np.array([[0.0, 0.0], [0.5, -0.5]]))
    >>> len(figure.axes)
    1
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle
from PIL import Image

from .pictures import (
    GLYPH_RADIUS,
    ArrayOrTensor,
    _array,
    _resized,
    as_image,
    colour_wheel,
    displacement,
    flow_image,
    heatmap_image,
    jacobian_outlines,
    keypoint_colours,
    mask_image,
    to_pixels,
)

__all__ = [
    "plot_keypoints",
    "keypoint_figure",
    "plot_heatmaps",
    "plot_sparse_deformed",
    "plot_masks",
    "plot_flow",
    "plot_occlusion",
    "plot_frames",
    "plot_crop",
]


def _axes(ax, figsize=(4, 4)):
    """``ax`` and its figure, or a new figure with one Axes."""
    if ax is not None:
        return ax.figure, ax
    figure, ax = plt.subplots(figsize=figsize)
    plt.close(figure)
    return figure, ax


def _panels(count, columns=None, panel=2.0):
    """A figure with ``count`` image panels in a grid; unused panels hidden."""
    columns = min(count, columns or int(np.ceil(np.sqrt(count))))
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(panel * columns, panel * rows), squeeze=False)
    plt.close(figure)
    axes = axes.ravel()
    for ax in axes:
        ax.axis("off")
    return figure, axes[:count]


def _motion_titles(num_motions):
    return ["background"] + [f"keypoint {k}" for k in range(num_motions - 1)]


def _mark(ax, kp, index, size, colour):
    """Mark keypoint ``index`` of ``kp`` ``(K, 2)`` on a panel of ``size`` ``(h, w)``."""
    x, y = to_pixels(_array(kp, 2, "kp")[index], size)
    ax.scatter([x], [y], c=[colour], s=20, edgecolors="white", linewidths=0.8)


# ---------------------------------------------------------------- keypoints


def plot_keypoints(
    image: ArrayOrTensor,
    kp: ArrayOrTensor,
    jacobian: ArrayOrTensor | None = None,
    ax: Axes | None = None,
    colours: np.ndarray | None = None,
    radius: float = GLYPH_RADIUS,
    labels: bool = True,
) -> Figure:
    """Keypoints ``(K, 2)`` over an image, one marker each, and their Jacobians ``(K, 2, 2)`` as glyphs.

    Each Jacobian is drawn as the ellipse it makes of a circle of ``radius``
    and a line to where it takes the local x axis (see :func:`jacobian_outlines`).
    The figure holds one scatter collection (K markers), and with Jacobians
    K ellipse patches and K hand lines; ``labels`` writes each keypoint's number.

    Example:
        >>> figure = plot_keypoints(np.zeros((64, 64, 3)), np.zeros((3, 2)), np.stack([np.eye(2)] * 3))
        >>> len(figure.axes[0].patches)
        3
    """
    figure, ax = _axes(ax)
    image = as_image(image)
    size = image.shape[:2]
    kp = _array(kp, 2, "kp")
    colours = keypoint_colours(len(kp)) if colours is None else np.asarray(colours)
    ax.imshow(image)
    ax.axis("off")
    points = to_pixels(kp, size)
    if jacobian is not None:
        outlines, hands = jacobian_outlines(kp, jacobian, size, radius)
        for outline, hand, centre, colour in zip(outlines, hands, points, colours):
            ax.add_patch(Polygon(outline, closed=True, fill=False, edgecolor=colour, linewidth=1.5))
            ax.plot([centre[0], hand[0]], [centre[1], hand[1]], color=colour, linewidth=1.5)
    ax.scatter(points[:, 0], points[:, 1], c=colours, s=30, edgecolors="black", linewidths=0.5, zorder=3)
    if labels:
        for k, (x, y) in enumerate(points):
            ax.annotate(str(k), (x, y), xytext=(4, 4), textcoords="offset points", color="white", fontsize=7)
    ax.set_xlim(-0.5, size[1] - 0.5)
    ax.set_ylim(size[0] - 0.5, -0.5)
    return figure


def keypoint_figure(
    images: Sequence[ArrayOrTensor],
    kp_values: ArrayOrTensor,
    kp_jacobians: ArrayOrTensor | None = None,
    titles: Sequence[str] | None = None,
    panel_size: float = 2.2,
) -> Figure:
    """One :func:`plot_keypoints` panel per image.

    Images ``(N, H, W, 3)``, keypoints ``(N, K, 2)``, Jacobians ``(N, K, 2, 2)`` or None.

    Example:
        >>> len(keypoint_figure([np.zeros((64, 64, 3))] * 2, np.zeros((2, 10, 2))).axes)
        2
    """
    figure, axes = plt.subplots(1, len(images), figsize=(panel_size * len(images), panel_size), squeeze=False)
    plt.close(figure)
    for index, ax in enumerate(axes[0]):
        jacobian = None if kp_jacobians is None else kp_jacobians[index]
        plot_keypoints(images[index], kp_values[index], jacobian, ax=ax, labels=False)
        if titles:
            ax.set_title(titles[index], fontsize=9)
    figure.tight_layout()
    return figure


# ---------------------------------------------------------------- inside the dense motion network


def plot_heatmaps(
    heatmap: ArrayOrTensor,
    image: ArrayOrTensor | None = None,
    kp: ArrayOrTensor | None = None,
    background_first: bool = False,
    columns: int | None = None,
) -> Figure:
    """One panel per heatmap ``(K, h, w)`` (optionally over ``image``, with keypoint ``k`` of ``(K, 2)`` marked).

    Use it for the detector's softmax heatmaps ``(K, h, w)`` or for the dense
    motion network's gaussian differences ``(K + 1, h, w)`` with
    ``background_first=True``. Signed maps are drawn red (driving) / blue (source).

    Example:
        >>> len(plot_heatmaps(np.random.rand(4, 8, 8)).axes)
        4
    """
    heatmap = _array(heatmap, 3, "heatmap")
    offset = 1 if background_first else 0
    titles = _motion_titles(len(heatmap)) if background_first else [f"keypoint {k}" for k in range(len(heatmap))]
    colours = keypoint_colours(len(heatmap) - offset)
    figure, axes = _panels(len(heatmap), columns)
    for index, (ax, title) in enumerate(zip(axes, titles)):
        picture = heatmap_image(heatmap[index])
        if image is not None:
            base = as_image(image)
            picture = 0.5 * base + 0.5 * _resized(picture, base.shape[:2])
        ax.imshow(picture)
        ax.set_title(title, fontsize=8, color="black" if index < offset else colours[index - offset])
        if kp is not None and index >= offset:
            _mark(ax, kp, index - offset, picture.shape[:2], colours[index - offset])
    return figure


def plot_sparse_deformed(sparse_deformed: ArrayOrTensor, kp: ArrayOrTensor | None = None,
                         columns: int | None = None) -> Figure:
    """The source warped by each sparse motion ``(K + 1, C, h, w)``: background first, one panel each.

    Panel ``k + 1`` is framed in keypoint ``k``'s colour; with ``kp``
    (driving keypoints ``(K, 2)``) the keypoint is marked where its motion applies.

    Example:
        >>> import torch
        >>> figure = plot_sparse_deformed(torch.rand(1, 4, 3, 8, 8))
        >>> [ax.get_title() for ax in figure.axes][:2]
        ['background', 'keypoint 0']
    """
    warped = _array(sparse_deformed, 4, "sparse_deformed")
    colours = keypoint_colours(len(warped) - 1)
    figure, axes = _panels(len(warped), columns)
    for index, (ax, title) in enumerate(zip(axes, _motion_titles(len(warped)))):
        ax.imshow(as_image(warped[index].transpose(1, 2, 0)))
        ax.set_title(title, fontsize=8)
        if index > 0:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colours[index - 1])
                spine.set_linewidth(3)
            if kp is not None:
                _mark(ax, kp, index - 1, warped.shape[2:], colours[index - 1])
    return figure


def plot_masks(mask: ArrayOrTensor, image: ArrayOrTensor | None = None, ax: Axes | None = None,
               per_keypoint: bool = False, alpha: float = 0.6) -> Figure:
    """The softmax masks ``(K + 1, h, w)`` in keypoint colours (background grey).

    Blended into one picture (over ``image`` with ``alpha`` when given), or
    with ``per_keypoint`` one grey panel per motion, background first.

    Example:
        >>> import torch
        >>> mask = torch.softmax(torch.rand(4, 8, 8), 0)
        >>> len(plot_masks(mask, per_keypoint=True).axes)
        4
    """
    mask = _array(mask, 3, "mask")
    if per_keypoint:
        figure, axes = _panels(len(mask))
        colours = keypoint_colours(len(mask) - 1)
        for index, (panel, title) in enumerate(zip(axes, _motion_titles(len(mask)))):
            panel.imshow(mask[index], cmap="gray", vmin=0, vmax=1)
            panel.set_title(title, fontsize=8, color="black" if index == 0 else colours[index - 1])
        return figure
    figure, ax = _axes(ax)
    picture = mask_image(mask)
    if image is not None:
        base = as_image(image)
        picture = (1 - alpha) * base + alpha * _resized(picture, base.shape[:2], Image.NEAREST)
    ax.imshow(picture)
    ax.axis("off")
    return figure


def plot_flow(deformation: ArrayOrTensor, image: ArrayOrTensor | None = None, step: int | None = None,
              max_magnitude: float | None = None) -> Figure:
    """The dense motion ``(h, w, 2)``: arrows (left) and the colour-wheel picture with its legend (right).

    Each arrow starts at a driving pixel and points to the source pixel it
    samples (``deformation``), in pixels; ``step`` thins the arrows (default: ~16 per side).

    Example:
        >>> from fomm_nb.geometry import make_coordinate_grid
        >>> len(plot_flow(make_coordinate_grid((16, 16))).axes)
        2
    """
    deformation = _array(deformation, 3, "deformation")
    height, width = deformation.shape[:2]
    figure, (arrows, wheel) = plt.subplots(1, 2, figsize=(8, 4))
    plt.close(figure)
    step = step or max(1, min(height, width) // 16)
    moved = displacement(deformation) * np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    y, x = np.mgrid[0:height:step, 0:width:step]
    if image is not None:
        arrows.imshow(_resized(image, (height, width)))
    arrows.quiver(x, y, moved[::step, ::step, 0], moved[::step, ::step, 1],
                  angles="xy", scale_units="xy", scale=1, color="red")
    arrows.set_xlim(-0.5, width - 0.5)
    arrows.set_ylim(height - 0.5, -0.5)
    arrows.set_title("where each pixel samples the source", fontsize=9)
    wheel.imshow(flow_image(deformation, max_magnitude))
    wheel.set_title("direction = hue, length = saturation", fontsize=9)
    legend = wheel.inset_axes([0.78, 0.78, 0.2, 0.2])
    legend.imshow(colour_wheel())
    for ax in (arrows, wheel, legend):
        ax.axis("off")
    return figure


def plot_occlusion(occlusion_map: ArrayOrTensor, ax: Axes | None = None) -> Figure:
    """The occlusion map ``(1, h, w)`` or ``(h, w)``: white where the warped source is trusted.

    Example:
        >>> plot_occlusion(np.random.rand(1, 1, 8, 8)).axes[0].images[0].get_array().shape
        (8, 8)
    """
    occlusion = _array(occlusion_map, 2, "occlusion_map")
    figure, ax = _axes(ax)
    shown = ax.imshow(occlusion, cmap="gray", vmin=0, vmax=1)
    figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title("occlusion map", fontsize=9)
    ax.axis("off")
    return figure


# ---------------------------------------------------------------- frames and crops


def plot_frames(frames: Sequence[ArrayOrTensor], titles: Sequence[str] | None = None, panel: float = 3.0) -> Figure:
    """Frames side by side, one panel each (images of any size and type :func:`as_image` takes).

    Example:
        >>> [ax.get_title() for ax in plot_frames([np.zeros((8, 8, 3))] * 2, ["source", "result"]).axes]
        ['source', 'result']
    """
    figure, axes = plt.subplots(1, len(frames), figsize=(panel * len(frames), panel), squeeze=False)
    plt.close(figure)
    for index, (ax, frame) in enumerate(zip(axes[0], frames)):
        ax.imshow(as_image(frame))
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    return figure


def plot_crop(image: ArrayOrTensor, box: Sequence[float], face: Sequence[float] | None = None,
              ax: Axes | None = None) -> Axes:
    """Draw ``image`` ``(H, W, 3)`` with the crop ``box`` (and, if given, the ``face`` box dashed); returns the Axes.

    Boxes are ``(left, top, right, bottom)`` in pixels, such as
    :class:`fomm_nb.face.Box`; their edges are drawn on the pixel borders.

    Example:
        >>> from fomm_nb.face import detect_face, face_crop_box
        >>> from skimage.data import astronaut
        >>> photo = astronaut() / 255.0
        >>> ax = plot_crop(photo, face_crop_box(photo), face=detect_face(photo))
        >>> [patch.get_label() for patch in ax.patches]
        ['crop', 'face']
    """
    _, ax = _axes(ax, figsize=(5, 5))
    ax.imshow(as_image(image))
    shapes = [(box, "-", "crop")] + ([(face, "--", "face")] if face is not None else [])
    for rect, style, label in shapes:
        left, top, right, bottom = (float(v) for v in rect)
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, color="yellow",
                               linestyle=style, linewidth=2, label=label))
    ax.legend(loc="lower right")
    ax.set_axis_off()
    return ax
