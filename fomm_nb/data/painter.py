"""Drawing a cartoon face: :func:`render` paints an identity in a pose, anti-aliased, with numpy only.

Layers, back to front: a static background (gradient and soft blobs), hair
behind the head (long and curly styles), shoulders and neck, ears, the head
with its shading, blush and freckles, the hair in front, the eyes, brows,
nose and mouth. Each is a signed-distance shape evaluated only where it can
appear (:mod:`fomm_nb.data.drawing`), so a 64x64 frame takes a couple of
milliseconds.

Example:
    >>> from fomm_nb.data.cartoon import Identity, Pose
    >>> image = render(Identity.random(np.random.default_rng(0)), Pose(yaw=0.3, mouth=1.0))
    >>> image.shape, image.dtype, bool(0.0 <= image.min() and image.max() <= 1.0)
    ((64, 64, 3), dtype('float32'), True)
"""

import functools
import math

import numpy as np

from ..errors import InputError
from .cartoon import HAIR_STYLES, Identity, Pose, _layout
from .drawing import Canvas, above, box, circle, ellipse

__all__ = ["render"]

_EYE_WHITE, _PUPIL, _OUTLINE = (0.97, 0.97, 0.95), (0.03, 0.03, 0.04), (0.12, 0.07, 0.07)
_MOUTH_INSIDE, _TEETH, _BLUSH = (0.28, 0.04, 0.08), (0.96, 0.95, 0.9), (0.95, 0.4, 0.45)


@functools.lru_cache(maxsize=16)
def _background(colours, angle, blobs, size):
    """The static background ``(S, S, 3)`` float32: a two-colour gradient and soft blobs. Cached, read-only."""
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    x, y = coords[None, :], coords[:, None]
    t = np.clip(0.5 + 0.4 * (math.cos(angle) * x + math.sin(angle) * y), 0, 1)[..., None]  # (S, S, 1)
    image = (1 - t) * np.asarray(colours[0], np.float32) + t * np.asarray(colours[1], np.float32)
    for bx, by, radius, colour in blobs:
        weight = 0.5 * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * radius**2))
        image += (np.asarray(colour, np.float32) - image) * weight[..., None]
    image = image.astype(np.float32)
    image.flags.writeable = False
    return image


def _shade(colour, factor):
    return tuple(factor * c for c in colour)


def _head_distance(identity, lay):
    """The head outline: an ellipse, taller below the centre, its lower half sheared toward the turn."""
    width, top, jaw, shear = lay["width"], np.float32(identity.head_top), np.float32(identity.head_jaw), lay["shear"]
    return lambda x, y: ellipse(x - shear * np.maximum(y, 0), y, 0.0, 0.0, width, np.where(y > 0, jaw, top))


def _draw_back(canvas, identity, lay):
    """Hair behind the head, shoulders, neck and ears."""
    width, jaw, shift = lay["width"], identity.head_jaw, lay["shift"]
    style = HAIR_STYLES[identity.hair_style]
    if style == "long":
        top = identity.head_top * 1.1
        crown = lambda x, y: ellipse(x, y, 0.0, -0.03, width * 1.12, top)
        hair = lambda x, y: np.minimum(crown(x, y), box(x, y, 0.0, jaw / 2 + 0.05, width * 1.2, jaw / 2 + 0.2, 0.1))
        canvas.fill(hair, identity.hair, (-width * 1.25, -top - 0.05, width * 1.25, jaw + 0.3))
    elif style == "curly":
        angles = np.linspace(0.85 * np.pi, 2.15 * np.pi, 11)
        centres = [(1.15 * width * math.cos(a), -0.1 + 0.95 * identity.head_top * math.sin(a)) for a in angles]
        hair = lambda x, y: functools.reduce(np.minimum, [circle(x, y, cx, cy, 0.14) for cx, cy in centres])
        canvas.fill(hair, identity.hair, (-width * 1.15 - 0.15, -identity.head_top - 0.3, width * 1.15 + 0.15, 0.3))
    shoulders_y = jaw + 0.62
    shoulders = lambda x, y: ellipse(x, y, 0.3 * shift, shoulders_y, width * 2.4, 0.47)
    canvas.fill(shoulders, identity.shirt, (-1.6, shoulders_y - 0.5, 1.6, shoulders_y + 0.5))
    neck = lambda x, y: box(x, y, 0.3 * shift, jaw, 0.42 * width, 0.32, 0.4 * width)
    canvas.fill(neck, _shade(identity.skin, 0.82), (-width, jaw - 0.35, width, jaw + 0.35))
    ear = identity.ear_size
    for side, (x, y) in zip((-1, 1), lay["ears"]):
        region = (x - ear, y - ear, x + ear, y + ear)
        canvas.fill(lambda fx, fy: ellipse(fx, fy, x, y, 0.7 * ear, ear), _shade(identity.skin, 0.92), region)
        inner = lambda fx, fy: ellipse(fx, fy, x + side * 0.2 * ear, y, 0.35 * ear, 0.6 * ear)
        canvas.fill(inner, _shade(identity.skin, 0.74), region)


def _draw_head(canvas, identity, lay):
    """Skin, shading, blush, freckles and the hair in front."""
    width, top, jaw, shift = lay["width"], identity.head_top, identity.head_jaw, lay["shift"]
    head = canvas.fill(_head_distance(identity, lay), identity.skin, (-width - 0.05, -top, width + 0.05, jaw))
    if head is not None:  # shading: darker toward the right side of the face
        window, cover = head
        side = np.clip((canvas.fx[window] - shift) / width + 0.1, 0, 1)
        canvas.blend(window, _shade(identity.skin, 0.72), 0.45 * cover * side**2)
    turned = lay["turned"]
    cheek_y = identity.nose_height + 0.03
    for side in (-1, 1):
        x = turned(side * (identity.eye_spacing + 0.04))[0]
        window = canvas.window((x - 0.15, cheek_y - 0.15, x + 0.15, cheek_y + 0.15))
        if window is not None and identity.blush > 0:
            d2 = (canvas.fx[window] - x) ** 2 + (canvas.fy[window] - cheek_y) ** 2
            canvas.blend(window, _BLUSH, identity.blush * np.exp(-d2 / (2 * 0.05**2)))
    if identity.freckles:
        spots = [(turned(x)[0], y) for x, y in identity.freckles]
        freckles = lambda fx, fy: functools.reduce(np.minimum, [circle(fx, fy, x, y, 0.013) for x, y in spots])
        canvas.fill(freckles, _shade(identity.skin, 0.62), (-width, -0.05, width, 0.12), alpha=0.6)

    brow_y = lay["brows"][0][1]
    curve, slope = lay["hairline"]
    cap = lambda x, y: np.maximum(ellipse(x, y, 0.0, -0.03, width * 1.08, top * 1.1), above(x, y, curve, slope))
    canvas.fill(cap, identity.hair, (-width * 1.1, -top * 1.1 - 0.05, width * 1.1, brow_y + 0.4))


def _draw_eyes(canvas, identity, lay):
    """Eye whites, irises, pupils, highlights, outlines and brows; closed eyes leave a line."""
    size = identity.eye_size
    for x, y, half_width, half_height, (px, py), shrink in lay["eyes"]:
        window = canvas.window((x - half_width - 0.03, y - size - 0.03, x + half_width + 0.03, y + size + 0.03))
        if window is None:
            continue
        fx, fy = canvas.coordinates(window)
        opening = ellipse(fx, fy, x, y, half_width, half_height)
        thin = min(1.0, 2 * half_height / canvas.pixel)  # a slit thinner than a pixel covers it only partly
        iris = 0.62 * size
        canvas.paint(window, _EYE_WHITE, opening, alpha=thin)
        for colour, shape in (
            (identity.iris, ellipse(fx, fy, px, py, iris * shrink, iris)),
            (_PUPIL, ellipse(fx, fy, px, py, 0.45 * iris * shrink, 0.45 * iris)),
            (_EYE_WHITE, circle(fx, fy, px - 0.3 * iris, py - 0.35 * iris, 0.22 * iris)),  # the highlight
        ):
            canvas.paint(window, colour, np.maximum(shape, opening), alpha=thin)  # clipped by the lids
        canvas.paint(window, _OUTLINE, np.abs(opening) - 0.12 * size)
    brow_colour = _shade(identity.hair, 0.4)
    for x, y, half_width, tilt in lay["brows"]:
        c, s = math.cos(tilt), math.sin(tilt)
        along = lambda fx, fy: c * (fx - x) + s * (fy - y)
        across = lambda fx, fy: c * (fy - y) - s * (fx - x)
        brow = lambda fx, fy: ellipse(along(fx, fy), across(fx, fy), 0.0, 0.0, half_width, identity.brow_thickness)
        canvas.fill(brow, brow_colour, (x - half_width - 0.02, y - half_width, x + half_width + 0.02, y + half_width))


def _draw_nose_and_mouth(canvas, identity, lay):
    """The nose (a darker ball at its tip) and the mouth: lips, the inside and teeth when open."""
    nx, ny = lay["nose"]
    size = identity.nose_size
    nose = lambda x, y: ellipse(x, y, nx, ny, size, 0.8 * size)
    canvas.fill(nose, _shade(identity.skin, 0.78), (nx - size, ny - size, nx + size, ny + size))
    mx, my, half_width, opening = lay["mouth"]
    lip, smile = identity.lip_thickness, identity.smile
    bend = lambda x, y: y - my + smile * ((x - mx) / half_width) ** 2  # the corners rise by `smile`
    reach = abs(smile) + opening + lip + 0.02
    region = (mx - half_width - 0.02, my - reach, mx + half_width + 0.02, my + reach)
    canvas.fill(lambda x, y: ellipse(x, bend(x, y), mx, 0.0, half_width, opening + lip), identity.lips, region)
    inside = lambda x, y: ellipse(x, bend(x, y), mx, 0.0, 0.82 * half_width, opening)
    canvas.fill(inside, _MOUTH_INSIDE, region, alpha=min(1.0, 2 * opening / canvas.pixel))
    teeth = min(max((opening - 0.015) / 0.02, 0.0), 1.0)  # fade in as the mouth opens: no jump between frames
    if teeth > 0:
        canvas.fill(lambda x, y: np.maximum(inside(x, y), bend(x, y) + 0.4 * opening), _TEETH, region, alpha=teeth)


def render(identity: Identity, pose: Pose, size: int = 64) -> np.ndarray:
    """Draw ``identity`` in ``pose``: an ``(size, size, 3)`` float32 image in [0, 1].

    Deterministic; edges are anti-aliased (a one-pixel soft edge), so a frame
    is close to a supersampled render box-filtered down.

    Example:
        >>> from fomm_nb.data.cartoon import Identity, Pose
        >>> render(Identity.random(np.random.default_rng(0)), Pose(), size=128).shape
        (128, 128, 3)
    """
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise InputError(f"size must be an integer of at least 16 pixels, got {size!r}")
    if not pose.scale > 0:
        raise InputError(f"the pose's scale must be positive, got {pose.scale}")
    background = _background(identity.background, identity.background_angle, identity.blobs, int(size))
    canvas = Canvas(background.copy(), pose.tx, pose.ty, pose.angle, pose.scale)
    lay = _layout(identity, pose)
    _draw_back(canvas, identity, lay)
    _draw_head(canvas, identity, lay)
    _draw_eyes(canvas, identity, lay)
    _draw_nose_and_mouth(canvas, identity, lay)
    return np.clip(canvas.image, 0.0, 1.0, out=canvas.image)
