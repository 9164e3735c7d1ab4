"""The cartoon face model: what a face looks like, how it is posed, and its landmarks.

An :class:`Identity` holds the proportions and colours of one face, a
:class:`Pose` where it is and what it does. :func:`landmarks` gives the
ground-truth points of an identity in a pose, from the same layout that
:func:`fomm_nb.data.painter.render` draws.

Coordinates: the image spans [-1, 1] from the centre of the first pixel to
the centre of the last (``align_corners=True``), ``y`` points down. A pose
scales the face about its centre, turns it by ``angle`` (radians, clockwise
on screen) and moves it by ``(tx, ty)`` (in units of half the frame).
Landmarks are in pixels ``(x, y)``, pixel centres at integers; "left" means
image-left.

Example:
    >>> identity = Identity.random(np.random.default_rng(0))
    >>> moved = landmarks(identity, Pose(tx=0.5), size=65) - landmarks(identity, Pose(), size=65)
    >>> [round(float(v), 3) for v in moved[0]]  # half a frame of 65 pixels to the right
    [16.0, 0.0]
"""

import colorsys
import math
from dataclasses import dataclass, replace

import numpy as np

from .drawing import face_to_image

__all__ = [
    "LANDMARK_NAMES",
    "HAIR_STYLES",
    "YAW_RADIANS",
    "NARROWING",
    "Identity",
    "Pose",
    "with_pose",
    "landmarks",
    "pupils",
]

LANDMARK_NAMES = (  # the order of the first version of this data set, kept
    "left_eye",  # centre of the eye opening
    "right_eye",
    "left_brow",  # centre of the brow
    "right_brow",
    "nose_tip",
    "mouth_left",  # mouth corners
    "mouth_right",
    "upper_lip",  # top of the upper lip
    "lower_lip",  # bottom of the lower lip
    "chin",
    "left_face_edge",  # the outline at eye level
    "right_face_edge",
    "hairline",  # where the hair meets the forehead, mid-face
)

HAIR_STYLES = ("short", "fringe", "side_parting", "long", "curly")
# Hairlines per style (a0, a1, a2, a4, wave), above the brows:
#   y = brow + a0 + a1 * hair_side * u + a2 * u^2 + a4 * u^4 + wave * cos(2 pi x / _WAVELENGTH)
# with x measured from the middle of the (turned) face and u = x / the outline's half width.
_HAIRLINES = {
    "short": (-0.1, 0.0, 0.28, 0.0, 0.0),
    "fringe": (-0.035, 0.0, 0.0, 0.3, 0.02),
    "side_parting": (-0.08, -0.1, 0.22, 0.0, 0.0),
    "long": (-0.09, 0.0, 0.3, 0.0, 0.0),
    "curly": (-0.12, 0.0, 0.3, 0.0, 0.0),
}
_WAVELENGTH = 0.16
YAW_RADIANS = 0.6  # yaw 1 turns the head by this much
NARROWING = 0.2  # yaw 1 narrows the outline by this fraction

# black, dark brown, brown, blond, red, grey
_HAIR = ((0.07, 0.05, 0.05), (0.3, 0.17, 0.08), (0.55, 0.33, 0.15), (0.88, 0.72, 0.38), (0.68, 0.24, 0.1), (0.78, 0.78, 0.8))
# blue, green, brown, grey
_IRIS = ((0.2, 0.45, 0.85), (0.2, 0.55, 0.3), (0.42, 0.25, 0.1), (0.45, 0.52, 0.6))


def _distance(a, b):
    return float(np.abs(np.subtract(a, b)).mean())


def _colour(rng, far_from=(), margin=0.25, draw=None):
    """A random RGB tuple at least ``margin`` (mean absolute difference) from each of ``far_from``."""
    draw = draw or (lambda: colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.2, 0.9), rng.uniform(0.25, 1.0)))
    for _ in range(100):
        colour = tuple(float(c) for c in np.clip(draw(), 0, 1))
        if all(_distance(colour, other) >= margin for other in far_from):
            break
    return colour


@dataclass(frozen=True)
class Identity:
    """How a face looks: proportions in face units (the frame is 2 wide) and RGB colours in [0, 1].

    Example:
        >>> identity = Identity.random(np.random.default_rng(0))
        >>> HAIR_STYLES[identity.hair_style] in HAIR_STYLES and 0.4 <= identity.head_width <= 0.5
        True
    """

    head_width: float  # half width of the outline
    head_top: float  # half height above the centre
    head_jaw: float  # half height below the centre (the chin)
    eye_spacing: float  # half the distance between the eyes
    eye_height: float  # y of the eyes (negative: above the centre)
    eye_size: float  # half height of the open eye
    brow_gap: float
    brow_thickness: float
    brow_tilt: float  # radians, mirrored on the two sides
    nose_height: float
    nose_size: float
    mouth_height: float
    mouth_width: float  # half width
    lip_thickness: float
    mouth_open: float  # half opening at Pose.mouth = 1
    smile: float  # how far the corners rise
    ear_size: float
    hair_style: int  # index into HAIR_STYLES
    hair_side: int  # +1 or -1: the side of the parting
    blush: float  # strength of the cheek blush
    freckles: tuple  # ((x, y), ...) frontal face coordinates
    skin: tuple
    hair: tuple
    iris: tuple
    lips: tuple
    shirt: tuple
    background: tuple  # two colours of the gradient
    background_angle: float  # direction of the gradient, radians
    blobs: tuple  # ((x, y, radius, (r, g, b)), ...) soft static spots of the background

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Identity":
        """A random identity from a :class:`numpy.random.Generator` (the same draws give the same face)."""

        def uniform(low, high):
            return float(rng.uniform(low, high))

        def palette(colours, spread):
            return lambda: np.array(colours[rng.integers(len(colours))]) + rng.normal(0, spread, 3)

        if rng.uniform() < 0.85:  # from dark to light human skin; else a cartoon colour
            skin = _colour(rng, draw=lambda: np.array([0.33, 0.2, 0.13]) + rng.uniform() * np.array([0.65, 0.65, 0.61]))
        else:
            skin = _colour(rng, draw=lambda: colorsys.hsv_to_rgb(rng.uniform(), uniform(0.25, 0.5), uniform(0.6, 0.9)))
        hair = _colour(rng, (skin,), draw=palette(_HAIR, 0.04) if rng.uniform() < 0.8 else None)
        if _distance(hair, skin) < 0.25:
            hair = tuple(0.35 * c for c in hair)
        eye_height = uniform(-0.12, -0.04)
        nose_height = eye_height + uniform(0.17, 0.23)
        lips = np.clip(0.35 * np.array(skin) + 0.65 * (np.array([0.78, 0.16, 0.22]) + rng.normal(0, 0.05, 3)), 0, 1)
        return cls(
            head_width=uniform(0.4, 0.5),
            head_top=uniform(0.5, 0.6),
            head_jaw=uniform(0.58, 0.68),
            eye_spacing=uniform(0.16, 0.21),
            eye_height=eye_height,
            eye_size=uniform(0.065, 0.085),
            brow_gap=uniform(0.04, 0.08),
            brow_thickness=uniform(0.022, 0.036),
            brow_tilt=uniform(-0.25, 0.25),
            nose_height=nose_height,
            nose_size=uniform(0.035, 0.055),
            mouth_height=nose_height + uniform(0.12, 0.16),
            mouth_width=uniform(0.11, 0.17),
            lip_thickness=uniform(0.018, 0.03),
            mouth_open=uniform(0.07, 0.1),
            smile=uniform(-0.01, 0.03),
            ear_size=uniform(0.06, 0.08),
            hair_style=int(rng.integers(len(HAIR_STYLES))),
            hair_side=int(rng.choice([-1, 1])),
            blush=uniform(0.0, 0.4),
            freckles=tuple((uniform(-0.25, 0.25), uniform(-0.02, 0.08)) for _ in range(rng.choice([0, 0, 8, 12]))),
            skin=skin,
            hair=hair,
            iris=_colour(rng, draw=palette(_IRIS, 0.05)),
            lips=tuple(float(c) for c in lips),
            shirt=_colour(rng, (skin,)),
            background=(_colour(rng, (skin, hair), margin=0.2), _colour(rng, (skin, hair), margin=0.2)),
            background_angle=uniform(0, 2 * np.pi),
            blobs=tuple((uniform(-1, 1), uniform(-1, 1), uniform(0.15, 0.35), _colour(rng)) for _ in range(3)),
        )


@dataclass(frozen=True)
class Pose:
    """Where the face is and what it does.

    ``tx``, ``ty`` in units of half the frame; ``angle`` in radians (clockwise
    on screen); ``yaw`` in [-1, 1] turns the head (positive: the face turns to
    image-right, features shift right, the outline narrows); ``mouth`` and
    ``blink`` in [0, 1] (1: wide open, eyes closed); ``gaze_x``, ``gaze_y`` in
    [-1, 1] move the pupils within the eyes.

    Example:
        >>> Pose(tx=0.1, mouth=1.0).scale
        1.0
    """

    tx: float = 0.0
    ty: float = 0.0
    angle: float = 0.0
    scale: float = 1.0
    yaw: float = 0.0
    mouth: float = 0.0
    blink: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0


def with_pose(pose: Pose, **changes: float) -> Pose:
    """A copy of ``pose`` with some parameters changed.

    Example:
        >>> with_pose(Pose(tx=0.2), blink=1.0)
        Pose(tx=0.2, ty=0.0, angle=0.0, scale=1.0, yaw=0.0, mouth=0.0, blink=1.0, gaze_x=0.0, gaze_y=0.0)
    """
    return replace(pose, **changes)


# ----------------------------------------------------------------------------- layout


def _layout(identity, pose):
    """Where every feature is, in face coordinates, for this identity in this pose (a dict)."""
    turn = YAW_RADIANS * _clip(pose.yaw, -1, 1)
    radius = identity.head_width
    width = radius * (1 - NARROWING * abs(turn) / YAW_RADIANS)

    def turned(x, depth=1.0):
        """Frontal x on a sphere of ``depth`` head radii -> turned x, and how much widths shrink there."""
        angle = math.asin(max(-1.0, min(1.0, x / (radius * depth))))
        return width * depth * math.sin(angle + turn), width / radius * math.cos(angle + turn) / math.cos(angle)

    blink, gaze_x, gaze_y = _clip(pose.blink, 0, 1), _clip(pose.gaze_x, -1, 1), _clip(pose.gaze_y, -1, 1)
    eyes, brows, ears = [], [], []
    for side in (-1, 1):
        x, shrink = turned(side * identity.eye_spacing)
        half_width, half_height = 1.3 * identity.eye_size * shrink, identity.eye_size
        pupil = (x + 0.4 * gaze_x * half_width, identity.eye_height + 0.3 * gaze_y * half_height)
        eyes.append((x, identity.eye_height, half_width, max(half_height * (1 - blink), 1e-3), pupil, shrink))
        brow_y = identity.eye_height - half_height - identity.brow_gap
        brows.append((x, brow_y, 1.15 * half_width, -side * identity.brow_tilt))
        hidden = max(side * turn, 0.0) / YAW_RADIANS  # the ear on the side the face turns to slides behind the head
        ear_y = identity.eye_height + 0.05
        ears.append((side * _outline_x(width, identity.head_top, ear_y) * (1 - 0.3 * hidden), ear_y))
    mouth_left, _ = turned(-identity.mouth_width)
    mouth_right, _ = turned(identity.mouth_width)
    opening = 0.006 + identity.mouth_open * _clip(pose.mouth, 0, 1)
    shift = width * math.sin(turn)  # where the middle of the face went
    return {
        "width": width,
        "shift": shift,
        "shear": 0.4 * shift / identity.head_jaw,  # the jaw follows the turn
        "eyes": eyes,
        "brows": brows,
        "ears": ears,
        "nose": (turned(0.0, depth=1.25)[0], identity.nose_height),
        "mouth": ((mouth_left + mouth_right) / 2, identity.mouth_height, (mouth_right - mouth_left) / 2, opening),
        "hairline": _hairline(identity, width, shift, brows[0][1]),
        "turned": turned,
    }


def _hairline(identity, width, shift, brow_y):
    """The hairline of the identity's style: functions ``y(x)`` and ``dy/dx(x)`` (see ``_HAIRLINES``)."""
    a0, a1, a2, a4, wave = _HAIRLINES[HAIR_STYLES[identity.hair_style]]
    side, k = identity.hair_side, 2 * np.pi / _WAVELENGTH

    def curve(x):
        u = (x - shift) / width
        y = brow_y + a0 + a1 * side * u + a2 * u**2 + a4 * u**4
        return y + wave * np.cos(k * (x - shift)) if wave else y

    def slope(x):
        u = (x - shift) / width
        dy = (a1 * side + 2 * a2 * u + 4 * a4 * u**3) / width
        return dy - wave * k * np.sin(k * (x - shift)) if wave else dy

    return curve, slope


def _clip(value, low, high):
    return float(min(max(value, low), high))


def _outline_x(width, height, y):
    """Half width of the head outline at height ``y`` (upper half)."""
    return width * math.sqrt(max(0.0, 1 - (y / height) ** 2))


def landmarks(identity: Identity, pose: Pose, size: int = 64) -> np.ndarray:
    """Ground-truth landmarks ``(13, 2)`` float32, pixel coordinates ``(x, y)``; names in ``LANDMARK_NAMES``.

    They are computed from the same layout that :func:`~fomm_nb.data.painter.render`
    draws. The eyes keep their place when closed; the pupils' place follows
    from the pose's gaze (see ``pupils``).

    Example:
        >>> points = landmarks(Identity.random(np.random.default_rng(0)), Pose(), size=64)
        >>> points.shape, points.dtype
        ((13, 2), dtype('float32'))
    """
    lay = _layout(identity, pose)
    (left_x, eye_y, *_), (right_x, *_) = lay["eyes"]
    mouth_x, mouth_y, half_width, opening = lay["mouth"]
    lip = opening + identity.lip_thickness
    edge = _outline_x(lay["width"], identity.head_top, eye_y)
    face_points = [
        (left_x, eye_y),
        (right_x, eye_y),
        lay["brows"][0][:2],
        lay["brows"][1][:2],
        lay["nose"],
        (mouth_x - half_width, mouth_y - identity.smile),
        (mouth_x + half_width, mouth_y - identity.smile),
        (mouth_x, mouth_y - lip),
        (mouth_x, mouth_y + lip),
        (lay["shear"] * identity.head_jaw, identity.head_jaw),
        (-edge, eye_y),
        (edge, eye_y),
        (lay["shift"], float(lay["hairline"][0](lay["shift"]))),
    ]
    return _to_pixels(face_points, pose, size)


def pupils(identity: Identity, pose: Pose, size: int = 64) -> np.ndarray:
    """Where the pupils are drawn: ``(2, 2)`` float32 pixels ``(x, y)``, image-left first (hidden when blinking).

    Example:
        >>> pupils(Identity.random(np.random.default_rng(0)), Pose(gaze_x=1.0)).shape
        (2, 2)
    """
    return _to_pixels([eye[4] for eye in _layout(identity, pose)["eyes"]], pose, size)


def _to_pixels(face_points, pose, size):
    """Face-frame points ``[(x, y), ...]`` -> pixel coordinates ``(N, 2)`` float32 in this pose."""
    fx, fy = np.array(face_points, dtype=np.float64).T
    x, y = face_to_image(fx, fy, pose.tx, pose.ty, pose.angle, pose.scale)
    return ((np.stack([x, y], axis=1) + 1) / 2 * (size - 1)).astype(np.float32)
