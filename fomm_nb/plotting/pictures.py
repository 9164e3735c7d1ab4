"""Pictures as numpy arrays: keypoints, Jacobian glyphs, masks, flows, heatmaps, grids.

These are fast enough for widgets (no matplotlib). Every picture is
``(H, W, 3)``: float32 in [0, 1], except :func:`render_keypoints_image`,
which draws with Pillow and returns uint8. Keypoint ``k`` has colour
``keypoint_colours(K)[k]``, and its mask is motion ``k + 1``.

Example:
    >>> image = np.zeros((64, 64, 3), np.float32)
    >>> kp = np.array([[0.0, 0.0], [0.5, -0.5]])
    >>> render_keypoints_image(image, kp, jacobian=np.stack([np.eye(2)] * 2)).shape
    (64, 64, 3)
"""

import functools

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import hsv_to_rgb
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError
from ..media import tensor_to_frames
from ..media.images import as_bytes

__all__ = [
    "BACKGROUND_COLOUR",
    "STILL",
    "GLYPH_RADIUS",
    "keypoint_colours",
    "to_pixels",
    "as_image",
    "faded",
    "jacobian_outlines",
    "render_keypoints_image",
    "label_box",
    "mask_image",
    "displacement",
    "flow_image",
    "colour_wheel",
    "heatmap_image",
    "tile",
]

BACKGROUND_COLOUR = (0.2, 0.2, 0.2)  # the background motion's colour in mask pictures
STILL = 1e-3  # displacements below this ([-1, 1] units) count as no motion in flow pictures
GLYPH_RADIUS = 0.08  # radius of the circle a Jacobian deforms, in [-1, 1] units

ArrayOrTensor = np.ndarray | torch.Tensor
Size = int | tuple[int, int]  # a square side, or (H, W)


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


def _height_width(size):
    return (size, size) if np.isscalar(size) else tuple(size)


def keypoint_colours(num_kp: int) -> np.ndarray:
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


def to_pixels(kp: ArrayOrTensor, size: Size) -> np.ndarray:
    """Keypoints ``(..., 2)`` in [-1, 1] -> pixel coordinates for an image of ``size`` (int or ``(H, W)``).

    Pixel ``= (v + 1) / 2 * (size - 1)``: -1 and 1 are the centres of the corner pixels.

    Example:
        >>> to_pixels(np.array([[-1.0, 1.0]]), 64)
        array([[ 0., 63.]], dtype=float32)
    """
    height, width = _height_width(size)
    kp = kp.detach().float().cpu().numpy() if torch.is_tensor(kp) else np.asarray(kp, np.float32)
    return ((kp + 1) / 2 * np.array([width - 1, height - 1], np.float32)).astype(np.float32)


def as_image(picture: ArrayOrTensor) -> np.ndarray:
    """An image as ``(H, W, 3)`` float32 in [0, 1] for display.

    Accepts ``(C, H, W)`` / ``(1, C, H, W)`` tensors (``C`` = 1 or 3),
    ``(H, W, 3)`` arrays (float or uint8) and ``(H, W)`` grey arrays.

    Example:
        >>> as_image(torch.zeros(1, 3, 8, 8)).shape
        (8, 8, 3)
        >>> as_image(np.full((2, 2), 255, np.uint8))[0, 0]
        array([1., 1., 1.], dtype=float32)
    """
    if torch.is_tensor(picture):
        if picture.ndim not in (3, 4) or (picture.ndim == 4 and picture.shape[0] != 1):
            raise InputError(f"an image tensor must be (C, H, W) or (1, C, H, W), got shape {tuple(picture.shape)}")
        picture = tensor_to_frames(picture.reshape(1, *picture.shape[-3:]))[0]
    elif np.asarray(picture).dtype == np.uint8:
        picture = np.asarray(picture, np.float32) / 255
    picture = np.asarray(picture, np.float32)
    if picture.ndim == 2:
        picture = picture[..., None]
    if picture.ndim != 3 or picture.shape[2] not in (1, 3):
        raise InputError(f"an image must be (H, W, 3), (H, W) or a (C, H, W) tensor, got shape {picture.shape}")
    return np.clip(np.broadcast_to(picture, (*picture.shape[:2], 3)), 0, 1)


def _uint8(image):
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image  # already a picture: no round trip through float
    return as_bytes(as_image(image))


def _resized(image, size, resample=Image.BICUBIC):
    """``image`` (anything :func:`as_image` takes) resized to ``size`` ``(H, W)``: float32 in [0, 1]."""
    height, width = size
    return np.asarray(Image.fromarray(_uint8(image)).resize((width, height), resample), np.float32) / 255


def faded(image: ArrayOrTensor, size: Size | None = None, strength: float = 0.3) -> np.ndarray:
    """A light grey ghost of ``image`` ``(H, W, 3)`` float32 (resized to ``size``): a backdrop for colours drawn over it.

    ``strength`` is how much of the image's contrast is kept (0: plain white).

    Example:
        >>> faded(np.zeros((4, 4, 3)), size=2, strength=0.3)[0, 0].tolist()
        [0.699999988079071, 0.699999988079071, 0.699999988079071]
    """
    picture = as_image(image) if size is None else _resized(image, _height_width(size))
    grey = picture.mean(-1, keepdims=True)
    return np.repeat(1 - strength * (1 - grey), 3, axis=-1).astype(np.float32)


def _over(colours, weight, background):
    """``colours`` ``(h, w, 3)`` laid over ``background`` (None: white) with ``weight`` ``(h, w)`` in [0, 1]."""
    weight = np.clip(weight, 0, 1)[..., None]
    background = 1.0 if background is None else _array(background, 3, "background")
    return (weight * colours + (1 - weight) * background).astype(np.float32)


# ---------------------------------------------------------------- keypoints


def jacobian_outlines(
    kp: ArrayOrTensor, jacobian: ArrayOrTensor, size: Size, radius: float = GLYPH_RADIUS, points: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """Where each Jacobian takes a small circle and the x axis around its keypoint, in pixels.

    ``J_k`` maps a displacement near keypoint ``k`` to the local affine
    picture of it, so the circle of ``radius`` (in [-1, 1] units) becomes an
    ellipse, and the "hand" ``p_k + J_k (radius, 0)`` shows rotation, which an
    ellipse alone hides.

    Args:
        kp: ``(K, 2)`` keypoints in [-1, 1]; jacobian: ``(K, 2, 2)``.

    Returns:
        ``outline`` ``(K, points, 2)`` and ``hand`` ``(K, 2)`` pixel coordinates.

    Example:
        >>> outline, hand = jacobian_outlines(np.zeros((1, 2)), np.eye(2)[None], 65, radius=0.5)
        >>> hand
        array([[48., 32.]], dtype=float32)
    """
    kp = _array(kp, 2, "kp")
    jacobian = _array(jacobian, 3, "jacobian")
    height, width = _height_width(size)
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    circle = radius * np.stack([np.cos(angles), np.sin(angles)])  # (2, N)
    scale = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    centre = to_pixels(kp, (height, width))[:, None, :]  # (K, 1, 2)
    outline = centre + np.einsum("kij,jn->kni", jacobian, circle) * scale
    hand = centre[:, 0] + jacobian[:, :, 0] * radius * scale
    return outline.astype(np.float32), hand.astype(np.float32)


def render_keypoints_image(
    image: ArrayOrTensor,
    kp: ArrayOrTensor,
    jacobian: ArrayOrTensor | None = None,
    selected: int | None = None,
    colours: np.ndarray | None = None,
    size: Size | None = None,
    radius: float = GLYPH_RADIUS,
    labels: bool = False,
) -> np.ndarray:
    """Draw keypoints (and Jacobian glyphs, and their numbers) on an image with Pillow: ``(H, W, 3)`` uint8.

    Args:
        image: ``(H, W, 3)`` array or ``(C, H, W)`` tensor.
        kp: ``(K, 2)`` keypoints in [-1, 1].
        jacobian: ``(K, 2, 2)``, drawn as ellipses with a hand (see :func:`jacobian_outlines`).
        selected: index of a keypoint to ring in white, or None.
        colours: ``(K, 3)`` in [0, 1]; default :func:`keypoint_colours`.
        size: resize the image to ``size`` (int or ``(H, W)``) first, e.g. to draw finely on a 64x64 frame.
        labels: write each keypoint's number ``k`` beside it, white on a dark edge of its colour (see :func:`label_box`).

    Example:
        >>> picture = render_keypoints_image(np.zeros((32, 32, 3)), np.array([[1.0, -1.0]]))
        >>> picture[0, 31].tolist() == [int(round(c * 255)) for c in keypoint_colours(1)[0]]
        True
    """
    picture = Image.fromarray(_uint8(image))
    if size is not None:
        height, width = _height_width(size)
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
    if labels:
        for index, (point, colour) in enumerate(zip(to_pixels(kp, (height, width)), colours)):
            sprite = _label_sprite(str(index), colour, _label_size(width, height))
            picture.paste(sprite, label_box(point, (height, width))[:2], sprite)
    return np.asarray(picture)


def _label_size(width, height):
    return max(9, round(min(width, height) / 24))


@functools.lru_cache(maxsize=256)
def _label_sprite(text, colour, size):
    """``text`` in white outlined in a dark shade of ``colour``, as an RGBA image drawn once (pasting it is ~10x cheaper)."""
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text, stroke_width=1)
    sprite = Image.new("RGBA", (right + 1, bottom + 1), (0, 0, 0, 0))
    ImageDraw.Draw(sprite).text((0, 0), text, fill=(255, 255, 255, 255), font=font, stroke_width=1,
                                stroke_fill=(*(c // 3 for c in colour), 255))  # white on a dark edge of its colour
    return sprite


def label_box(point: np.ndarray, size: Size) -> tuple[int, int, int, int]:
    """Where :func:`render_keypoints_image` writes a keypoint's number: ``(left, top, right, bottom)`` pixels.

    Up and to the right of the keypoint's pixel ``point`` ``(x, y)``, moved inside an image of ``size``.

    Example:
        >>> label_box(np.array([10.0, 40.0]), 240)
        (14, 26, 24, 36)
    """
    height, width = _height_width(size)
    text = _label_size(width, height)
    gap = max(1.5, min(width, height) / 80) + 1
    left = int(np.clip(point[0] + gap, 0, width - text))
    top = int(np.clip(point[1] - gap - text, 0, height - text))
    return left, top, left + text, top + text


# ---------------------------------------------------------------- motion


def mask_image(mask: ArrayOrTensor, colours: np.ndarray | None = None) -> np.ndarray:
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


def displacement(deformation: ArrayOrTensor) -> np.ndarray:
    """How far each pixel's sample moved: the dense motion ``(h, w, 2)`` minus the identity grid, in [-1, 1] units.

    Example:
        >>> from fomm_nb.geometry import make_coordinate_grid
        >>> float(np.abs(displacement(make_coordinate_grid((4, 4)) + 0.5) - 0.5).max()) < 1e-6
        True
    """
    deformation = _array(deformation, 3, "deformation")
    return deformation - _identity_grid(*deformation.shape[:2])


@functools.lru_cache(maxsize=8)
def _identity_grid(height, width):
    x, y = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
    grid = np.stack([x, y], axis=-1).astype(np.float32)
    grid.flags.writeable = False  # shared between calls
    return grid


@functools.lru_cache(maxsize=16)
def _colour_map(name):
    """A matplotlib colour map, built once (the registry hands out a new copy, and its table, at every lookup)."""
    return colormaps[name]


def _wheel_colours(dx, dy, max_magnitude, background=None):
    """Hue from the direction, strength from the length (relative to ``max_magnitude``), over ``background``."""
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    strength = np.hypot(dx, dy) / max(max_magnitude, 1e-8)
    pure = hsv_to_rgb(np.stack([hue, np.ones_like(hue), np.ones_like(hue)], axis=-1))
    return _over(pure, strength, background)


def flow_image(
    deformation: ArrayOrTensor, max_magnitude: float | None = None, background: ArrayOrTensor | None = None
) -> np.ndarray:
    """The dense motion ``(h, w, 2)`` as a colour-wheel picture ``(h, w, 3)``: the background where nothing moves.

    Direction is the hue, length the strength of the colour (full at
    ``max_magnitude`` in [-1, 1] units; default the largest length, at least
    :data:`STILL`) over ``background`` ``(h, w, 3)`` (default white; e.g. a
    :func:`faded` source, so that a still picture still shows where things
    are). The direction is where each driving pixel takes its colour from in the source.

    Example:
        >>> from fomm_nb.geometry import make_coordinate_grid
        >>> bool(flow_image(make_coordinate_grid((4, 4)).numpy()).min() > 0.99)
        True
    """
    moved = displacement(deformation)
    magnitude = max(np.hypot(moved[..., 0], moved[..., 1]).max(), STILL) if max_magnitude is None else max_magnitude
    return _wheel_colours(moved[..., 0], moved[..., 1], magnitude, background)


def colour_wheel(size: int = 64) -> np.ndarray:
    """The legend of :func:`flow_image`: ``(size, size, 3)``, white outside the unit disc.

    Example:
        >>> colour_wheel(8)[0, 0].tolist()
        [1.0, 1.0, 1.0]
    """
    x, y = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size))
    wheel = _wheel_colours(x, y, 1.0)
    wheel[np.hypot(x, y) > 1] = 1.0
    return wheel


def heatmap_image(
    heatmap: ArrayOrTensor,
    cmap: str | None = None,
    limit: float | None = None,
    signed: bool | None = None,
    background: ArrayOrTensor | None = None,
) -> np.ndarray:
    """A heatmap ``(h, w)`` as ``(h, w, 3)``: signed maps on a symmetric red-blue scale, others on magma.

    The scale ends at ``limit`` (default: the largest absolute value): a
    fixed limit keeps pictures of different frames comparable. ``signed``
    chooses the red-blue scale (default: when a value is negative), so a
    difference that is zero everywhere is drawn like any other difference:
    white, not the bottom of magma. With ``background`` ``(h, w, 3)`` the
    colours are laid over it in proportion to ``|value| / limit``.

    Example:
        >>> heatmap_image(np.array([[-1.0, 0.0, 1.0]])).shape
        (1, 3, 3)
        >>> bool((heatmap_image(np.zeros((1, 1)), limit=1, signed=True) > 0.95).all())  # no difference: white
        True
    """
    heatmap = _array(heatmap, 2, "heatmap")
    limit = max(np.abs(heatmap).max() if limit is None else limit, 1e-8)
    signed = heatmap.min() < 0 if signed is None else signed
    if signed:
        normalised, cmap = (heatmap / limit + 1) / 2, cmap or "RdBu_r"
    else:
        normalised, cmap = heatmap / limit, cmap or "magma"
    colours = _colour_map(cmap)(np.clip(normalised, 0, 1))[..., :3].astype(np.float32)
    return colours if background is None else _over(colours, np.abs(heatmap) / limit, background)


def tile(
    images: ArrayOrTensor, columns: int | None = None, border: int = 0, border_colours: np.ndarray | None = None
) -> np.ndarray:
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
