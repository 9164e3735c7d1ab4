"""Matplotlib pictures of the model's quantities: keypoints with Jacobians, masks, flow, occlusion.

Keypoints are ``(K, 2)`` in ``[-1, 1]`` ``(x, y)``; on an ``S``-pixel image a
coordinate ``v`` sits at pixel ``(v + 1) / 2 * (S - 1)``. Each keypoint keeps
one colour in every picture (:func:`keypoint_colours`).

Example:
    >>> import numpy as np
    >>> figure = keypoint_figure([np.zeros((64, 64, 3))], [np.zeros((10, 2))])
    >>> len(figure.axes)
    1
"""

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

__all__ = ["keypoint_colours", "to_pixels", "draw_keypoints", "keypoint_figure", "mask_image", "flow_image"]


def keypoint_colours(num_kp):
    """One RGBA colour per keypoint, ``(K, 4)``, from the gist_rainbow map (as published)."""
    return plt.get_cmap("gist_rainbow")(np.linspace(0, 1, num_kp, endpoint=False))


def to_pixels(values, size):
    """Keypoints in ``[-1, 1]`` -> pixel coordinates on a ``size``-pixel image."""
    return (np.asarray(values, dtype=np.float64) + 1) / 2 * (size - 1)


def draw_keypoints(ax, image, kp_value, kp_jacobian=None, glyph_scale=0.08):
    """Show ``image`` ``(H, W, 3)`` with its keypoints, each Jacobian drawn as an ellipse.

    The ellipse is the image of a small circle (radius ``glyph_scale`` in
    ``[-1, 1]`` units) under the 2x2 Jacobian: the local affine map around the
    keypoint, seen as how it stretches and turns the neighbourhood.
    """
    size = image.shape[0]
    ax.imshow(np.clip(image, 0, 1))
    ax.set_axis_off()
    points = to_pixels(kp_value, size)
    colours = keypoint_colours(len(points))
    ax.scatter(points[:, 0], points[:, 1], c=colours, s=18, edgecolors="black", linewidths=0.5, zorder=3)
    if kp_jacobian is None:
        return ax
    radius = glyph_scale * (size - 1) / 2
    for (x, y), jacobian, colour in zip(points, np.asarray(kp_jacobian), colours):
        left, singular, right = np.linalg.svd(jacobian)
        angle = np.degrees(np.arctan2(left[1, 0], left[0, 0]))
        ax.add_patch(
            Ellipse((x, y), 2 * radius * singular[0], 2 * radius * singular[1], angle=angle, fill=False,
                    edgecolor=colour, linewidth=1.2, zorder=2)
        )
    return ax


def keypoint_figure(images, kp_values, kp_jacobians=None, titles=None, panel_size=2.2):
    """One panel per image with its keypoints (and Jacobians): a Figure."""
    count = len(images)
    figure, axes = plt.subplots(1, count, figsize=(panel_size * count, panel_size), squeeze=False)
    for index, ax in enumerate(axes[0]):
        jacobian = None if kp_jacobians is None else kp_jacobians[index]
        draw_keypoints(ax, images[index], kp_values[index], jacobian)
        if titles:
            ax.set_title(titles[index], fontsize=9)
    figure.tight_layout()
    return figure


def mask_image(mask):
    """Soft masks ``(K + 1, h, w)`` -> an RGB image ``(h, w, 3)``: background grey, keypoint k its colour."""
    mask = np.asarray(mask, dtype=np.float64)
    colours = np.concatenate([[[0.5, 0.5, 0.5]], keypoint_colours(mask.shape[0] - 1)[:, :3]])
    return np.einsum("khw,kc->hwc", mask, colours).clip(0, 1)


def flow_image(deformation):
    """Dense motion ``(h, w, 2)`` (source coordinates) -> colour-wheel RGB ``(h, w, 3)`` of its displacement."""
    deformation = np.asarray(deformation, dtype=np.float64)
    height, width = deformation.shape[:2]
    xs, ys = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
    dx, dy = deformation[..., 0] - xs, deformation[..., 1] - ys
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    magnitude = np.hypot(dx, dy)
    value = np.clip(magnitude / max(magnitude.max(), 1e-6), 0, 1)
    hsv = np.stack([hue, np.ones_like(hue), value], axis=-1)
    return matplotlib.colors.hsv_to_rgb(hsv)
