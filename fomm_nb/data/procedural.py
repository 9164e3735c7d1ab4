"""Procedural cartoon faces: a data set rendered from parameters, with ground truth.

Every frame is drawn from an :class:`Identity` (what the face looks like) and
a :class:`Pose` (where it is and what it does), with anti-aliased shapes
(signed distances with a one-pixel soft edge). Because frames are rendered,
each comes with exact landmarks, and any identity can be drawn in any other
identity's pose: the ground truth for cross-identity animation that no
recorded data set has.

Example:
    >>> video = make_video(seed=3, num_frames=4, size=64)
    >>> video.frames.shape, video.landmarks.shape
    ((4, 64, 64, 3), (4, 13, 2))
"""

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError

LANDMARK_NAMES = (
    "left_eye",
    "right_eye",
    "left_brow",
    "right_brow",
    "nose_tip",
    "mouth_left",
    "mouth_right",
    "upper_lip",
    "lower_lip",
    "chin",
    "left_cheek",
    "right_cheek",
    "forehead",
)

TEST_SEED_OFFSET = 1_000_000  # test videos use seeds from here on: disjoint from training


@dataclass(frozen=True)
class Identity:
    """How a face looks: proportions and colours (RGB in [0, 1])."""

    head_width: float
    head_height: float
    eye_spacing: float
    eye_height: float
    eye_size: float
    mouth_width: float
    mouth_height: float
    brow_thickness: float
    hair_style: int  # 0 short cap, 1 tall, 2 side parting
    skin: tuple
    hair: tuple
    iris: tuple
    lips: tuple
    background_top: tuple
    background_bottom: tuple
    blobs: tuple = field(default=())  # (x, y, radius, r, g, b) soft background spots

    @classmethod
    def random(cls, rng):
        """A random identity from a :class:`numpy.random.Generator`."""
        skin_tone = rng.uniform(0.35, 0.95)
        skin = tuple(np.clip([skin_tone + 0.1, skin_tone * 0.82, skin_tone * 0.65] + rng.normal(0, 0.03, 3), 0, 1))
        hair = tuple(rng.uniform(0.0, 0.6, 3) * rng.choice([0.3, 1.0, 1.5]))
        top, bottom = rng.uniform(0.2, 1.0, 3), rng.uniform(0.0, 0.8, 3)
        blobs = tuple((*rng.uniform(-1, 1, 2), rng.uniform(0.1, 0.3), *rng.uniform(0, 1, 3)) for _ in range(3))
        return cls(
            head_width=rng.uniform(0.42, 0.56),
            head_height=rng.uniform(0.55, 0.68),
            eye_spacing=rng.uniform(0.17, 0.24),
            eye_height=rng.uniform(-0.16, -0.06),
            eye_size=rng.uniform(0.07, 0.1),
            mouth_width=rng.uniform(0.14, 0.22),
            mouth_height=rng.uniform(0.27, 0.36),
            brow_thickness=rng.uniform(0.02, 0.04),
            hair_style=int(rng.integers(3)),
            skin=skin,
            hair=tuple(np.clip(hair, 0, 1)),
            iris=tuple(rng.uniform(0.0, 0.6, 3)),
            lips=tuple(np.clip([rng.uniform(0.5, 0.9), rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.35)], 0, 1)),
            background_top=tuple(top),
            background_bottom=tuple(bottom),
            blobs=blobs,
        )


@dataclass(frozen=True)
class Pose:
    """Where the face is and what it does. Translations in units of half the frame."""

    tx: float = 0.0
    ty: float = 0.0
    angle: float = 0.0  # in-plane rotation, radians
    scale: float = 1.0
    yaw: float = 0.0  # head turn in [-1, 1]: features shift, outline narrows
    mouth: float = 0.0  # opening in [0, 1]
    blink: float = 0.0  # 1 = eyes closed
    gaze_x: float = 0.0
    gaze_y: float = 0.0


# ----------------------------------------------------------------------------- geometry


def _to_face(points_xy, pose):
    """Image coordinates ``(..., 2)`` in [-1, 1] -> face coordinates (before the pose)."""
    c, s = math.cos(pose.angle), math.sin(pose.angle)
    x = points_xy[..., 0] - pose.tx
    y = points_xy[..., 1] - pose.ty
    return (c * x + s * y) / pose.scale, (-s * x + c * y) / pose.scale


def _to_image(fx, fy, pose):
    """Face coordinates -> image coordinates in [-1, 1]."""
    c, s = math.cos(pose.angle), math.sin(pose.angle)
    x = pose.scale * (c * fx - s * fy) + pose.tx
    y = pose.scale * (s * fx + c * fy) + pose.ty
    return x, y


def _layout(identity, pose):
    """Feature positions in face coordinates for this pose: a dict of (x, y) and sizes."""
    turn = pose.yaw * 0.35 * identity.head_width
    width = identity.head_width * (1 - 0.22 * abs(pose.yaw))
    eye_y = identity.eye_height
    eye_squash = 1 - 0.3 * abs(pose.yaw)
    return {
        "width": width,
        "left_eye": (turn - identity.eye_spacing * eye_squash, eye_y),
        "right_eye": (turn + identity.eye_spacing * eye_squash, eye_y),
        "brow_y": eye_y - 1.6 * identity.eye_size - 0.02,
        "nose": (1.3 * turn, eye_y + 0.17),
        "mouth": (turn, identity.mouth_height),
        "mouth_half_width": identity.mouth_width * eye_squash,
        "mouth_half_height": 0.015 + 0.075 * pose.mouth,
    }


def landmarks(identity, pose, size=64):
    """Ground-truth landmarks ``(13, 2)`` in pixel coordinates ``(x, y)`` (pixel centres are integers).

    Example:
        >>> points = landmarks(Identity.random(np.random.default_rng(0)), Pose(), size=64)
        >>> points.shape
        (13, 2)
    """
    lay = _layout(identity, pose)
    (lx, ly), (rx, ry) = lay["left_eye"], lay["right_eye"]
    mx, my = lay["mouth"]
    face_points = [
        (lx, ly),
        (rx, ry),
        (lx, lay["brow_y"]),
        (rx, lay["brow_y"]),
        lay["nose"],
        (mx - lay["mouth_half_width"], my),
        (mx + lay["mouth_half_width"], my),
        (mx, my - lay["mouth_half_height"]),
        (mx, my + lay["mouth_half_height"]),
        (0.3 * (mx), identity.head_height),
        (-lay["width"], ly),
        (lay["width"], ly),
        (0.0, -identity.head_height),
    ]
    fx, fy = np.array(face_points, dtype=np.float64).T
    x, y = _to_image(fx, fy, pose)
    return (np.stack([x, y], axis=1) + 1) / 2 * (size - 1)


# ----------------------------------------------------------------------------- rendering


def _coverage(distance, pixel):
    """Signed distance (negative inside) -> coverage in [0, 1] with a one-pixel soft edge."""
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def _ellipse_distance(fx, fy, centre, half_axes):
    """Approximate signed distance to an axis-aligned ellipse, in face units."""
    ax, ay = half_axes
    normalised = np.sqrt(((fx - centre[0]) / ax) ** 2 + ((fy - centre[1]) / ay) ** 2)
    return (normalised - 1) * min(ax, ay)


def _paint(image, colour, coverage):
    image += (np.asarray(colour, dtype=np.float32) - image) * coverage[..., None]


def _background(identity, size, grid):
    t = (grid[..., 1:2] + 1) / 2
    image = (1 - t) * np.asarray(identity.background_top, np.float32) + t * np.asarray(identity.background_bottom, np.float32)
    for bx, by, radius, *colour in identity.blobs:
        weight = np.exp(-((grid[..., 0] - bx) ** 2 + (grid[..., 1] - by) ** 2) / (2 * radius**2)) * 0.6
        _paint(image, colour, weight.astype(np.float32))
    return image.astype(np.float32)


def _pixel_grid(size):
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    xx, yy = np.meshgrid(coords, coords)
    return np.stack([xx, yy], axis=-1)


def render(identity, pose, size=64):
    """Draw ``identity`` in ``pose``: an ``(size, size, 3)`` float32 image in [0, 1].

    Example:
        >>> image = render(Identity.random(np.random.default_rng(0)), Pose(yaw=0.3, mouth=1.0))
        >>> image.shape, image.dtype
        ((64, 64, 3), dtype('float32'))
    """
    if size < 16:
        raise InputError(f"size must be at least 16 pixels, got {size}")
    grid = _pixel_grid(size)
    image = _background(identity, size, grid)
    fx, fy = _to_face(grid, pose)
    pixel = 2.0 / (size - 1) / pose.scale  # one output pixel in face units
    lay = _layout(identity, pose)
    width, height = lay["width"], identity.head_height
    skin = np.asarray(identity.skin, np.float32)

    hair_lift = (0.08, 0.16, 0.1)[identity.hair_style]
    _paint(image, identity.hair, _coverage(_ellipse_distance(fx, fy, (0, -hair_lift), (width * 1.1, height * 0.95)), pixel) * (fy < 0.25 * height))
    for side in (-1, 1):  # ears
        _paint(image, skin * 0.92, _coverage(_ellipse_distance(fx, fy, (side * width, lay["left_eye"][1] + 0.08), (0.06, 0.1)), pixel))
    head = _coverage(_ellipse_distance(fx, fy, (0, 0), (width, height)), pixel)
    _paint(image, skin, head)
    shade = np.clip(0.5 + 0.5 * (fx - lay["nose"][0]) / width, 0, 1) * 0.12 * head
    image *= (1 - shade[..., None]).astype(np.float32)
    fringe_y = -height * (0.55 if identity.hair_style != 1 else 0.45) + (0.1 * fx if identity.hair_style == 2 else 0)
    _paint(image, identity.hair, head * _coverage(fy - fringe_y, pixel))
    for side in (-1, 1):  # cheeks
        cheek = np.exp(-((fx - lay["mouth"][0] - side * 0.28) ** 2 + (fy - lay["nose"][1] - 0.03) ** 2) / 0.004)
        _paint(image, (0.95, 0.45, 0.45), (0.35 * cheek * head).astype(np.float32))

    openness = max(1.0 - pose.blink, 0.08)
    for key in ("left_eye", "right_eye"):
        ex, ey = lay[key]
        size_x, size_y = identity.eye_size * 1.25, identity.eye_size * openness
        _paint(image, (0.98, 0.98, 0.98), _coverage(_ellipse_distance(fx, fy, (ex, ey), (size_x, size_y)), pixel))
        eye_mask = _coverage(_ellipse_distance(fx, fy, (ex, ey), (size_x, size_y)), pixel)
        centre = (ex + pose.gaze_x * 0.5 * size_x + 0.3 * pose.yaw * size_x, ey + pose.gaze_y * 0.4 * size_y)
        iris = _coverage(_ellipse_distance(fx, fy, centre, (0.55 * identity.eye_size,) * 2), pixel) * eye_mask
        _paint(image, identity.iris, iris)
        _paint(image, (0.03, 0.03, 0.03), _coverage(_ellipse_distance(fx, fy, centre, (0.25 * identity.eye_size,) * 2), pixel) * eye_mask)
        brow = _ellipse_distance(fx, fy, (ex, lay["brow_y"]), (size_x * 1.1, identity.brow_thickness))
        _paint(image, np.asarray(identity.hair) * 0.7, _coverage(brow, pixel))

    nx, ny = lay["nose"]
    _paint(image, skin * 0.7, _coverage(_ellipse_distance(fx, fy, (nx, ny), (0.035, 0.05)), pixel))
    mx, my = lay["mouth"]
    lips = _ellipse_distance(fx, fy, (mx, my), (lay["mouth_half_width"], lay["mouth_half_height"] + 0.02))
    _paint(image, identity.lips, _coverage(lips, pixel))
    inside = _ellipse_distance(fx, fy, (mx, my), (lay["mouth_half_width"] * 0.8, lay["mouth_half_height"]))
    _paint(image, (0.25, 0.02, 0.05), _coverage(inside, pixel) * min(1.0, 0.2 + pose.mouth * 2))
    return np.clip(image, 0.0, 1.0)


# ----------------------------------------------------------------------------- motion


def random_trajectory(rng, num_frames):
    """Smooth random poses: each parameter a sum of two low-frequency sinusoids.

    Example:
        >>> poses = random_trajectory(np.random.default_rng(0), 8)
        >>> len(poses), isinstance(poses[0], Pose)
        (8, True)
    """
    t = np.arange(num_frames) / 32.0  # time in units of a 32-frame clip

    def wave(amplitude, centre=0.0):
        freqs = rng.uniform(0.3, 1.5, 2)
        phases = rng.uniform(0, 2 * np.pi, 2)
        weights = rng.dirichlet([1, 1])
        return centre + amplitude * (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)

    tx, ty = wave(0.15), wave(0.12)
    angle = wave(math.radians(20))
    scale = wave(0.15, 1.0)
    yaw = wave(0.5)
    mouth = np.clip(wave(0.7, 0.3), 0, 1)
    gaze_x, gaze_y = wave(0.8), wave(0.5)
    blink = np.zeros(num_frames)
    for start in rng.integers(0, max(num_frames, 1), size=max(1, num_frames // 24)):
        blink[start : start + 3] = (1.0, 1.0, 0.5)[: len(blink[start : start + 3])]
    return [
        Pose(float(tx[i]), float(ty[i]), float(angle[i]), float(scale[i]), float(yaw[i]), float(mouth[i]), float(blink[i]), float(gaze_x[i]), float(gaze_y[i]))
        for i in range(num_frames)
    ]


@dataclass
class ProceduralVideo:
    """A rendered clip: ``frames`` (T, H, W, 3) float32, ``landmarks`` (T, 13, 2), and its parameters."""

    frames: np.ndarray
    landmarks: np.ndarray
    identity: Identity
    poses: list

    def render_as(self, identity):
        """This clip's motion performed by another ``identity``: the cross-identity ground truth."""
        size = self.frames.shape[1]
        return np.stack([render(identity, pose, size) for pose in self.poses])


def video_parameters(seed, num_frames=32):
    """The identity and poses of video ``seed``, without rendering."""
    rng = np.random.default_rng(seed)
    return Identity.random(rng), random_trajectory(rng, num_frames)


def make_video(seed, num_frames=32, size=64):
    """Render video ``seed`` (deterministic): a :class:`ProceduralVideo`."""
    identity, poses = video_parameters(seed, num_frames)
    frames = np.stack([render(identity, pose, size) for pose in poses])
    points = np.stack([landmarks(identity, pose, size) for pose in poses]).astype(np.float32)
    return ProceduralVideo(frames, points, identity, poses)


def split_seed(split, index):
    """The seed of video ``index`` of ``split`` ('train' or 'test')."""
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    return index + (TEST_SEED_OFFSET if split == "test" else 0)


def with_pose(pose, **changes):
    """A copy of ``pose`` with some parameters changed (a convenience for figures and tests)."""
    return replace(pose, **changes)
