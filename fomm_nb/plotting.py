"""Pictures of what the model computes: keypoints, Jacobians, heatmaps, masks, flows, videos.

Two kinds of helpers share one palette (keypoint ``k`` has colour
``keypoint_colours(K)[k]`` everywhere, and its mask is motion ``k + 1``):

* numpy pictures, fast enough for widgets: :func:`render_keypoints_image`,
  :func:`mask_image`, :func:`flow_image`, :func:`heatmap_image`, :func:`tile`;
* matplotlib figures for notebooks and reports: ``plot_*``. Each returns a
  :class:`~matplotlib.figure.Figure`, or draws into the ``ax`` it is given
  and returns that Axes' figure. Figures are not left open in pyplot, so a
  figure returned by the last line of a cell is shown once.

Keypoints are ``(K, 2)`` (or ``(1, K, 2)``) in ``[-1, 1]``, ``(x, y)`` order;
pixel ``= (v + 1) / 2 * (size - 1)``. Jacobians are ``(K, 2, 2)``. Tensors
and numpy arrays are both accepted; a leading batch dimension of 1 is dropped.

Example:
    >>> image = np.zeros((64, 64, 3), np.float32)
    >>> kp = np.array([[0.0, 0.0], [0.5, -0.5]])
    >>> render_keypoints_image(image, kp, jacobian=np.stack([np.eye(2)] * 2)).shape
    (64, 64, 3)
    >>> figure = plot_keypoints(image, kp)
"""

import base64
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import hsv_to_rgb
from matplotlib.patches import Polygon
from PIL import Image, ImageDraw

from .errors import InputError

__all__ = [
    "BACKGROUND_COLOUR",
    "keypoint_colours",
    "to_pixels",
    "as_image",
    "jacobian_outlines",
    "render_keypoints_image",
    "mask_image",
    "flow_image",
    "colour_wheel",
    "heatmap_image",
    "tile",
    "plot_keypoints",
    "keypoint_figure",
    "plot_heatmaps",
    "plot_sparse_deformed",
    "plot_masks",
    "plot_flow",
    "plot_occlusion",
    "plot_frames",
    "video_bytes",
    "video_html",
]

BACKGROUND_COLOUR = (0.2, 0.2, 0.2)  # the background motion's colour in mask pictures
STILL = 1e-3  # displacements below this ([-1, 1] units) count as no motion in flow pictures
GLYPH_RADIUS = 0.08  # radius of the circle a Jacobian deforms, in [-1, 1] units


# ---------------------------------------------------------------- inputs


def _array(value, ndim, what):
    """``value`` (tensor or array) as float numpy with ``ndim`` dimensions; leading 1s are dropped."""
    if torch.is_tensor(value):
        value = value.detach().float().cpu().numpy()
    array = np.asarray(value, dtype=np.float32)
    while array.ndim > ndim and array.shape[0] == 1:
        array = array[0]
    if array.ndim != ndim:
        raise InputError(f"{what} must have {ndim} dimensions (a batch of 1 allowed), got shape {array.shape}")
    return array


def keypoint_colours(num_kp):
    """One RGB colour per keypoint, ``(K, 3)`` floats in [0, 1] (tab10 / tab20 / hsv by count).

    Example:
        >>> keypoint_colours(10).shape
        (10, 3)
    """
    if num_kp <= 10:
        return np.asarray(colormaps["tab10"].colors[:num_kp], dtype=np.float32).reshape(num_kp, 3)
    if num_kp <= 20:
        return np.asarray(colormaps["tab20"].colors[:num_kp], dtype=np.float32)
    return colormaps["hsv"](np.linspace(0, 1, num_kp, endpoint=False))[:, :3].astype(np.float32)


def to_pixels(kp, size):
    """Keypoints ``(..., 2)`` in [-1, 1] -> pixel coordinates for an image of ``size`` (int or ``(H, W)``).

    Example:
        >>> to_pixels(np.array([[-1.0, 1.0]]), 64)
        array([[ 0., 63.]], dtype=float32)
    """
    height, width = (size, size) if np.isscalar(size) else size
    kp = kp.detach().float().cpu().numpy() if torch.is_tensor(kp) else np.asarray(kp, np.float32)
    return ((kp + 1) / 2 * np.array([width - 1, height - 1], np.float32)).astype(np.float32)


def as_image(picture):
    """An image as ``(H, W, 3)`` float32 in [0, 1] for display.

    Accepts ``(C, H, W)`` / ``(1, C, H, W)`` tensors, ``(H, W, 3)`` arrays
    (float or uint8) and ``(H, W)`` grey arrays.

    Example:
        >>> as_image(torch.zeros(1, 3, 8, 8)).shape
        (8, 8, 3)
    """
    if torch.is_tensor(picture):
        picture = _array(picture, 3, "the image").transpose(1, 2, 0)
    elif np.asarray(picture).dtype == np.uint8:
        picture = np.asarray(picture, np.float32) / 255
    picture = np.asarray(picture, np.float32)
    if picture.ndim == 2:
        picture = np.repeat(picture[..., None], 3, axis=2)
    if picture.ndim != 3 or picture.shape[2] not in (1, 3):
        raise InputError(f"an image must be (H, W, 3), (H, W) or a (C, H, W) tensor, got shape {picture.shape}")
    return np.clip(np.broadcast_to(picture, (*picture.shape[:2], 3)), 0, 1)


def _uint8(image):
    return (as_image(image) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- numpy pictures


def jacobian_outlines(kp, jacobian, size, radius=GLYPH_RADIUS, points=24):
    """Where each Jacobian takes a small circle and the x axis around its keypoint, in pixels.

    ``J_k`` maps a displacement near keypoint ``k`` to the local affine
    picture of it, so the circle of ``radius`` (in [-1, 1] units) becomes an
    ellipse, and the "hand" ``p_k + J_k (radius, 0)`` shows rotation, which an
    ellipse alone hides.

    Returns:
        ``outline`` ``(K, points, 2)`` and ``hand`` ``(K, 2)`` pixel coordinates.

    Example:
        >>> outline, hand = jacobian_outlines(np.zeros((1, 2)), np.eye(2)[None], 65, radius=0.5)
        >>> hand
        array([[48., 32.]], dtype=float32)
    """
    kp = _array(kp, 2, "kp")
    jacobian = _array(jacobian, 3, "jacobian")
    height, width = (size, size) if np.isscalar(size) else size
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    circle = radius * np.stack([np.cos(angles), np.sin(angles)])  # (2, N)
    scale = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    centre = to_pixels(kp, (height, width))[:, None, :]  # (K, 1, 2)
    outline = centre + np.einsum("kij,jn->kni", jacobian, circle) * scale
    hand = centre[:, 0] + jacobian[:, :, 0] * radius * scale
    return outline.astype(np.float32), hand.astype(np.float32)


def render_keypoints_image(image, kp, jacobian=None, selected=None, colours=None, size=None, radius=GLYPH_RADIUS):
    """Draw keypoints (and Jacobian glyphs) on an image with Pillow: ``(H, W, 3)`` uint8.

    Args:
        image: ``(H, W, 3)`` array or ``(C, H, W)`` tensor.
        kp: ``(K, 2)`` keypoints in [-1, 1].
        jacobian: ``(K, 2, 2)``, drawn as ellipses with a hand (see :func:`jacobian_outlines`).
        selected: index of a keypoint to ring in white, or None.
        colours: ``(K, 3)`` in [0, 1]; default :func:`keypoint_colours`.
        size: resize the image to ``size`` (int or ``(H, W)``) first, e.g. to draw finely on a 64x64 frame.

    Example:
        >>> picture = render_keypoints_image(np.zeros((32, 32, 3)), np.array([[1.0, -1.0]]))
        >>> picture[0, 31].tolist() == [int(round(c * 255)) for c in keypoint_colours(1)[0]]
        True
    """
    picture = Image.fromarray(_uint8(image))
    if size is not None:
        height, width = (size, size) if np.isscalar(size) else size
        picture = picture.resize((width, height), Image.BILINEAR)
    width, height = picture.size
    kp = _array(kp, 2, "kp")
    colours = keypoint_colours(len(kp)) if colours is None else colours
    colours = [tuple(int(round(c * 255)) for c in colour) for colour in colours]
    draw = ImageDraw.Draw(picture)
    line = max(1, round(min(width, height) / 128))
    if jacobian is not None:
        outlines, hands = jacobian_outlines(kp, jacobian, (height, width), radius)
        for outline, hand, centre, colour in zip(outlines, hands, to_pixels(kp, (height, width)), colours):
            draw.line([tuple(p) for p in outline] + [tuple(outline[0])], fill=colour, width=line)
            draw.line([tuple(centre), tuple(hand)], fill=colour, width=line)
    dot = max(1.5, min(width, height) / 80)
    for index, ((x, y), colour) in enumerate(zip(to_pixels(kp, (height, width)), colours)):
        if index == selected:
            ring = dot * 2.2
            draw.ellipse([x - ring, y - ring, x + ring, y + ring], outline=(255, 255, 255), width=line + 1)
        draw.ellipse([x - dot, y - dot, x + dot, y + dot], fill=colour, outline=(0, 0, 0) if dot > 2 else None)
    return np.asarray(picture)


def mask_image(mask, colours=None):
    """Soft masks ``(K + 1, h, w)`` (background first) blended into one ``(h, w, 3)`` picture.

    Motion ``k + 1`` gets keypoint ``k``'s colour, the background :data:`BACKGROUND_COLOUR`.

    Example:
        >>> mask = np.zeros((3, 4, 4)); mask[2] = 1
        >>> np.allclose(mask_image(mask)[0, 0], keypoint_colours(2)[1])
        True
    """
    mask = _array(mask, 3, "mask")
    colours = keypoint_colours(mask.shape[0] - 1) if colours is None else np.asarray(colours, np.float32)
    palette = np.concatenate([np.asarray([BACKGROUND_COLOUR], np.float32), colours])  # (K + 1, 3)
    return np.clip(np.einsum("mhw,mc->hwc", mask, palette), 0, 1)


def _displacement(deformation):
    """Source coordinates ``(h, w, 2)`` minus the identity grid: how far each pixel's sample moved."""
    height, width = deformation.shape[:2]
    x, y = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
    return deformation - np.stack([x, y], axis=-1).astype(np.float32)


def _wheel_colours(dx, dy, max_magnitude):
    """Hue from the direction, brightness from the length (relative to ``max_magnitude``)."""
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    strength = np.clip(np.hypot(dx, dy) / max(max_magnitude, 1e-8), 0, 1)
    return hsv_to_rgb(np.stack([hue, strength, np.ones_like(hue)], axis=-1)).astype(np.float32)


def flow_image(deformation, max_magnitude=None):
    """The dense motion ``(h, w, 2)`` as a colour-wheel picture ``(h, w, 3)``: white where nothing moves.

    Direction is the hue, length the saturation (full at ``max_magnitude``
    in [-1, 1] units; default the largest length, at least
    :data:`STILL`). The direction is
    where each driving pixel takes its colour from in the source.

    Example:
        >>> from fomm_nb.geometry import make_coordinate_grid
        >>> bool(flow_image(make_coordinate_grid((4, 4)).numpy()).min() > 0.99)
        True
    """
    moved = _displacement(_array(deformation, 3, "deformation"))
    magnitude = max(np.hypot(moved[..., 0], moved[..., 1]).max(), STILL) if max_magnitude is None else max_magnitude
    return _wheel_colours(moved[..., 0], moved[..., 1], magnitude)


def colour_wheel(size=64):
    """The legend of :func:`flow_image`: ``(size, size, 3)``, white outside the unit disc."""
    x, y = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size))
    wheel = _wheel_colours(x, y, 1.0)
    wheel[np.hypot(x, y) > 1] = 1.0
    return wheel


def heatmap_image(heatmap, cmap=None, limit=None):
    """A heatmap ``(h, w)`` as ``(h, w, 3)``: signed maps on a symmetric red-blue scale, others on magma.

    The scale ends at ``limit`` (default: the largest absolute value), e.g. a
    fixed limit keeps error pictures of different frames comparable.

    Example:
        >>> heatmap_image(np.array([[-1.0, 0.0, 1.0]])).shape
        (1, 3, 3)
    """
    heatmap = _array(heatmap, 2, "heatmap")
    limit = max(np.abs(heatmap).max() if limit is None else limit, 1e-8)
    if heatmap.min() < 0:
        normalised, cmap = (heatmap / limit + 1) / 2, cmap or "RdBu_r"
    else:
        normalised, cmap = heatmap / limit, cmap or "magma"
    return colormaps[cmap](np.clip(normalised, 0, 1))[..., :3].astype(np.float32)


def tile(images, columns=None, border=0, border_colours=None):
    """Images ``(N, h, w, 3)`` in a grid ``(rows * (h + 2b), columns * (w + 2b), 3)``, with coloured frames.

    Example:
        >>> tile(np.zeros((5, 4, 4, 3)), columns=3, border=1).shape
        (12, 18, 3)
    """
    images = np.asarray(images, np.float32)
    count, height, width = images.shape[:3]
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    framed = np.ones((rows * columns, height + 2 * border, width + 2 * border, 3), np.float32)
    if border_colours is not None:
        framed[:count] = np.asarray(border_colours, np.float32)[:, None, None, :]
    framed[:count, border : border + height, border : border + width] = images
    framed = framed.reshape(rows, columns, *framed.shape[1:])
    return framed.transpose(0, 2, 1, 3, 4).reshape(rows * framed.shape[2], columns * framed.shape[3], 3)


# ---------------------------------------------------------------- matplotlib figures


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


def plot_keypoints(image, kp, jacobian=None, ax=None, colours=None, radius=GLYPH_RADIUS, labels=True):
    """Keypoints over an image, one marker each, and their Jacobians as glyphs.

    Each Jacobian is drawn as the ellipse it makes of a circle of ``radius``
    and a line to where it takes the local x axis (see :func:`jacobian_outlines`).
    The figure holds one scatter collection (K markers), and with Jacobians
    K ellipse patches and K hand lines.

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


def keypoint_figure(images, kp_values, kp_jacobians=None, titles=None, panel_size=2.2):
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


def plot_heatmaps(heatmap, image=None, kp=None, background_first=False, columns=None):
    """One panel per heatmap ``(K, h, w)`` (optionally over ``image``, with keypoint ``k`` marked).

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
            picture = 0.5 * base + 0.5 * np.asarray(Image.fromarray(_uint8(picture)).resize(base.shape[1::-1])) / 255
        ax.imshow(picture)
        ax.set_title(title, fontsize=8, color="black" if index < offset else colours[index - offset])
        if kp is not None and index >= offset:
            x, y = to_pixels(_array(kp, 2, "kp")[index - offset], picture.shape[:2])
            ax.scatter([x], [y], c=[colours[index - offset]], s=20, edgecolors="white", linewidths=0.8)
    return figure


def plot_sparse_deformed(sparse_deformed, kp=None, columns=None):
    """The source warped by each sparse motion ``(K + 1, C, h, w)``: background first, one panel each.

    Panel ``k + 1`` is framed in keypoint ``k``'s colour; with ``kp``
    (driving keypoints ``(K, 2)``) the keypoint is marked where its motion applies.

    Example:
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
                x, y = to_pixels(_array(kp, 2, "kp")[index - 1], warped.shape[2:])
                ax.scatter([x], [y], c=[colours[index - 1]], s=20, edgecolors="white", linewidths=0.8)
    return figure


def plot_masks(mask, image=None, ax=None, per_keypoint=False, alpha=0.6):
    """The softmax masks ``(K + 1, h, w)`` in keypoint colours (background grey).

    Blended into one picture (over ``image`` with ``alpha`` when given), or
    with ``per_keypoint`` one grey panel per motion, background first.

    Example:
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
        resized = np.asarray(Image.fromarray(_uint8(picture)).resize(base.shape[1::-1], Image.NEAREST)) / 255
        picture = (1 - alpha) * base + alpha * resized
    ax.imshow(picture)
    ax.axis("off")
    return figure


def plot_flow(deformation, image=None, step=None, max_magnitude=None):
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
    moved = _displacement(deformation) * np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    y, x = np.mgrid[0:height:step, 0:width:step]
    if image is not None:
        arrows.imshow(np.asarray(Image.fromarray(_uint8(image)).resize((width, height))) / 255)
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


def plot_occlusion(occlusion_map, ax=None):
    """The occlusion map ``(1, h, w)`` or ``(h, w)``: white where the warped source is trusted.

    Example:
        >>> plot_occlusion(torch.rand(1, 1, 8, 8)).axes[0].images[0].get_array().shape
        (8, 8)
    """
    occlusion = _array(occlusion_map, 2, "occlusion_map")
    figure, ax = _axes(ax)
    shown = ax.imshow(occlusion, cmap="gray", vmin=0, vmax=1)
    figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title("occlusion map", fontsize=9)
    ax.axis("off")
    return figure


def plot_frames(frames, titles=None, panel=3.0):
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


# ---------------------------------------------------------------- videos


def _one_video(frames, labels):
    """A video ``(T, H, W, 3)``, or several (a list) joined side by side frame by frame, so they play in step."""
    from .media import side_by_side

    if isinstance(frames, (list, tuple)):
        length = min(len(video) for video in frames)
        return [side_by_side(*(video[t] for video in frames), labels=labels) for t in range(length)]
    if labels is not None:
        return [side_by_side(frame, labels=labels) for frame in frames]
    return frames


def video_bytes(frames, fps=25.0, format="mp4", labels=None):
    """Encode frames into an ``mp4`` (H.264) or ``gif`` file's bytes.

    ``frames`` is one video ``(T, H, W, 3)`` (float in [0, 1] or uint8) or a
    list of videos, put side by side so they play in step (``labels``: one per video).

    Example:
        >>> data = video_bytes(np.zeros((4, 32, 32, 3), np.float32), fps=10, format="gif")
        >>> data[:3]
        b'GIF'
    """
    from .media import write_video

    if format not in ("mp4", "gif"):
        raise InputError(f"video format must be 'mp4' or 'gif', got {format!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"video.{format}"
        write_video(path, [as_image(frame) for frame in _one_video(frames, labels)], fps=fps)
        return path.read_bytes()


def video_html(frames, fps=25.0, format="mp4", labels=None, width=None):
    """An inline video for a notebook: :class:`IPython.display.HTML` with the file base64-encoded.

    ``mp4`` gives a looping ``<video>`` with controls; ``gif`` an animated
    ``<img>`` (shown where video tags are not, e.g. in some notebook viewers).
    Pass a list of videos to play them in step, side by side.

    Example:
        >>> html = video_html([np.zeros((4, 32, 32, 3))] * 2, fps=10, labels=["driving", "result"])
        >>> html.data.startswith("<video")
        True
    """
    from IPython.display import HTML

    data = base64.b64encode(video_bytes(frames, fps, format, labels)).decode("ascii")
    size = f' width="{int(width)}"' if width else ""
    if format == "gif":
        return HTML(f'<img src="data:image/gif;base64,{data}"{size}/>')
    return HTML(f'<video controls autoplay loop muted playsinline{size} src="data:video/mp4;base64,{data}"></video>')
