"""Face crops for real photos and videos: find the face, cut a square around it.

The published models were trained on crops where the face fills the middle
of the frame with room around it (hair, chin, a little neck). A phone photo
or a webcam video looks nothing like that, so before animating we find the
face and cut a square of that kind.

*Detection* uses OpenCV's bundled Haar cascade (frontal faces, no download).
It misses tilted heads, so when the upright image has no face the image is
turned by +-15 and +-30 degrees and searched again, with a stricter vote (a
turned search finds "faces" in coffee beans and coins with a weak vote). Of
several upright faces the largest wins; of tilted ones, the surest. With
``detector="landmarks"`` the box of the 68 landmarks of the optional
``face_alignment`` package is used instead, when that package and its
models are already on disk (fomm_nb never downloads them).

*The crop* is a square of side ``margin`` times the face side (default
:data:`MARGIN` = 1.8), centred ``lift`` face sides above the face's centre
(default :data:`LIFT` = 0.1: a Haar box runs from the brows to the chin, the
forehead and hair need more room than the neck). A box that sticks out of the
frame is slid back inside; one larger than the frame shrinks to the frame's
shorter side, so a crop never contains padding.

*Videos* (:func:`video_crop_boxes`): detect every ``every`` frames, remove
one-off false detections with a running median, fill the gaps by linear
interpolation. By default one fixed box covers every position of the face
over the clip (as the published ``crop-video.py`` does); ``moving=True``
gives a box per frame that follows the face, its centre and size smoothed by
a Gaussian over time. Frames are read once and not kept.

*No face*: ``if_missing="error"`` (default) raises :class:`FaceNotFoundError`;
``if_missing="centre"`` falls back to the largest centred square.

Boxes are :class:`Box` ``(left, top, right, bottom)`` in pixels, right and
bottom exclusive, so ``image[top:bottom, left:right]`` is the crop. Images
are ``(H, W, 3)`` float32 arrays in [0, 1].

Example:
    >>> import skimage.data
    >>> photo = skimage.data.astronaut().astype("float32") / 255
    >>> face_crop_box(photo)
    Box(left=140, top=21, right=307, bottom=188)
    >>> crop_to_face(photo, 256).shape
    (256, 256, 3)
"""

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from .errors import FaceNotFoundError, InputError

__all__ = [
    "MARGIN",
    "LIFT",
    "Box",
    "FaceNotFoundError",
    "detect_face",
    "face_landmarks",
    "square_crop_box",
    "face_crop_box",
    "track_face_boxes",
    "video_crop_boxes",
    "crop",
    "crop_frames",
    "crop_to_face",
    "plot_crop",
]

MARGIN = 1.8  # crop side / face side
LIFT = 0.1  # crop centre above the face centre, in face sides
TILTS = (-15, 15, -30, 30)  # degrees the image is turned by when no upright face is found
NEIGHBOURS = 5  # overlapping detections that make an upright face (OpenCV's usual value)
TILTED_NEIGHBOURS = 25  # turned images need surer faces: coffee beans, coins and bikes reach 24
DETECT_SIDE = 640  # images are shrunk to this longest side before the cascade runs
CASCADE = "haarcascade_frontalface_default.xml"


class Box(NamedTuple):
    """A rectangle in pixels: ``image[top:bottom, left:right]``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        """``(x, y)`` of the box's centre."""
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}")
    return image


def _as_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(image, dtype=np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _cascade():
    return cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / CASCADE))


def _haar_face(image):
    """``(cx, cy, side)`` of the largest upright Haar face of ``image``, else of the surest tilted one, or None."""
    gray = cv2.cvtColor(_as_uint8(image), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, DETECT_SIDE / max(gray.shape))
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    height, width = gray.shape
    smallest = max(24, min(height, width) // 10)
    search = functools.partial(_cascade().detectMultiScale2, scaleFactor=1.1, minSize=(smallest, smallest))
    faces, _ = search(gray, minNeighbors=NEIGHBOURS)
    if len(faces):
        x, y, w, h = max(faces, key=lambda face: face[2] * face[3])
        return (x + w / 2) / scale, (y + h / 2) / scale, max(w, h) / scale
    best, votes = None, 0
    for angle in TILTS:
        rotation = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        turned = cv2.warpAffine(gray, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE)
        faces, neighbours = search(turned, minNeighbors=TILTED_NEIGHBOURS)
        for (x, y, w, h), count in zip(faces, neighbours):
            if count > votes:
                cx, cy = cv2.invertAffineTransform(rotation) @ np.array([x + w / 2, y + h / 2, 1.0])
                best, votes = (cx / scale, cy / scale, max(w, h) / scale), count
    return best


@functools.lru_cache(maxsize=1)
def _landmark_model():
    """face_alignment's 2-D landmark model if the package and its models are on disk, else None."""
    try:
        import face_alignment
    except ImportError:
        return None
    import torch

    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if not (any(checkpoints.glob("2DFAN4*")) and any(checkpoints.glob("s3fd*"))):
        return None
    kind = getattr(face_alignment.LandmarksType, "TWO_D", None) or face_alignment.LandmarksType._2D
    return face_alignment.FaceAlignment(kind, flip_input=True, device="cuda" if torch.cuda.is_available() else "cpu")


def face_landmarks(image: np.ndarray) -> np.ndarray | None:
    """The 68 landmarks ``(68, 2)`` (pixels, ``(x, y)``) of the largest face, or None if none is found.

    Needs the optional ``face_alignment`` package with its models already in
    ``torch.hub.get_dir()/checkpoints``; raises :class:`InputError` otherwise.

    Example:
        >>> face_landmarks(photo).shape  # doctest: +SKIP
        (68, 2)
    """
    model = _landmark_model()
    if model is None:
        raise InputError(
            "face landmarks need the face_alignment package (pip install face-alignment) and its models "
            "(2DFAN4, s3fd) in torch.hub's checkpoints folder, which fomm_nb never downloads; "
            "or use the keypoint or Haar methods instead"
        )
    found = model.get_landmarks(_as_uint8(_check_image(image)))
    if not found:
        return None
    area = lambda points: np.ptp(points[:, 0]) * np.ptp(points[:, 1])
    return np.asarray(max(found, key=area)[:, :2], dtype=np.float64)


def detect_face(image: np.ndarray, detector: str = "haar") -> Box | None:
    """The largest face of ``image`` ``(H, W, 3)`` as a square :class:`Box`, or None.

    Args:
        detector: ``"haar"`` (OpenCV, always available) or ``"landmarks"``
            (the box around :func:`face_landmarks`).

    Example:
        >>> from skimage.data import astronaut
        >>> detect_face(astronaut() / 255.0)
        Box(left=177, top=67, right=270, bottom=160)
    """
    image = _check_image(image)
    if detector == "haar":
        face = _haar_face(image)
    elif detector == "landmarks":
        points = face_landmarks(image)
        face = None if points is None else (*(points.min(0) + points.max(0)) / 2, np.ptp(points, axis=0).max())
    else:
        raise InputError(f"detector must be 'haar' or 'landmarks', got {detector!r}")
    if face is None:
        return None
    cx, cy, side = face
    left, top = round(cx - side / 2), round(cy - side / 2)
    return Box(left, top, left + round(side), top + round(side))


def square_crop_box(centre: tuple[float, float], side: float, frame_shape: tuple[int, ...]) -> Box:
    """The square of ``side`` around ``centre`` ``(x, y)``, slid (and if needed shrunk) into ``frame_shape``.

    Example:
        >>> square_crop_box((10, 50), 40, (100, 200, 3))
        Box(left=0, top=30, right=40, bottom=70)
    """
    height, width = frame_shape[:2]
    side = max(1, min(round(side), height, width))
    left = min(max(round(centre[0] - side / 2), 0), width - side)
    top = min(max(round(centre[1] - side / 2), 0), height - side)
    return Box(left, top, left + side, top + side)


def _no_face(name):
    return FaceNotFoundError(
        f"{name}: no face found (frontal faces, tilted up to 30 degrees); "
        "crop it by hand, or pass if_missing='centre' to use the centre square"
    )


def _missing(frame_shape, if_missing, name):
    """The box used when no face was found: the largest centred square, or an error."""
    if if_missing != "centre":
        raise _no_face(name)
    height, width = frame_shape[:2]
    return square_crop_box((width / 2, height / 2), min(height, width), frame_shape)


def _check_missing(if_missing):
    if if_missing not in ("error", "centre"):
        raise InputError(f"if_missing must be 'error' or 'centre', got {if_missing!r}")


def face_crop_box(
    image: np.ndarray,
    margin: float = MARGIN,
    lift: float = LIFT,
    if_missing: str = "error",
    detector: str = "haar",
    name: str = "the image",
) -> Box:
    """The square crop :class:`Box` around the face of ``image`` ``(H, W, 3)``.

    Args:
        margin: crop side over face side.
        lift: how far above the face's centre the crop is centred, in face sides.
        if_missing: ``"error"`` raises :class:`FaceNotFoundError` when no face
            is found; ``"centre"`` returns the largest centred square.
        detector: see :func:`detect_face`.
        name: how error messages call the image (a file name, say).

    Example:
        >>> face_crop_box(np.zeros((90, 160, 3), np.float32), if_missing="centre")
        Box(left=35, top=0, right=125, bottom=90)
    """
    _check_missing(if_missing)
    image = _check_image(image)
    face = detect_face(image, detector)
    if face is None:
        return _missing(image.shape, if_missing, name)
    cx, cy = face.centre
    return square_crop_box((cx, cy - lift * face.width), margin * face.width, image.shape)


def _scan(frames, every, detector):
    """Faces on every ``every``-th frame: ``(times (N,), faces (N, 3) as cx, cy, side, frame count, frame shape)``."""
    if every < 1:
        raise InputError(f"every must be at least 1, got {every}")
    times, faces, count, shape = [], [], 0, None
    for t, frame in enumerate(frames):
        count, shape = t + 1, np.shape(frame)
        if t % every == 0:
            face = detect_face(frame, detector)
            if face is not None:
                times.append(t)
                faces.append((*face.centre, face.width))
    if count == 0:
        raise InputError("no frames: the video is empty")
    faces = np.array(faces, dtype=np.float64).reshape(-1, 3)
    if len(faces) >= 3:
        faces = median_filter(faces, size=(3, 1), mode="nearest")  # drops one-off false detections
    return np.array(times), faces, count, shape


def _fill(times, faces, count):
    """Per-frame ``(count, 3)`` faces, linearly interpolated between detections, held at the ends."""
    return np.stack([np.interp(np.arange(count), times, faces[:, i]) for i in range(3)], axis=1)


def _boxes(cx, cy, side):
    half = side / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def track_face_boxes(
    frames: Iterable[np.ndarray], every: int = 5, detector: str = "haar", name: str = "the video"
) -> np.ndarray:
    """Face boxes ``(T, 4)`` (float ``left, top, right, bottom``) for each frame of the iterable ``frames``.

    Faces are detected every ``every`` frames; isolated false detections are
    removed by a running median of 3 and the gaps are filled linearly.
    Raises :class:`FaceNotFoundError` when no frame shows a face.

    Example:
        >>> from skimage.data import astronaut
        >>> video_frames = [np.roll(astronaut() / 255.0, 4 * t, axis=1) for t in range(12)]  # a face moving right
        >>> track_face_boxes(video_frames).shape
        (12, 4)
    """
    times, faces, count, _ = _scan(frames, every, detector)
    if not len(faces):
        raise _no_face(name)
    return _boxes(*_fill(times, faces, count).T)


def video_crop_boxes(
    frames: Iterable[np.ndarray],
    margin: float = MARGIN,
    lift: float = LIFT,
    moving: bool = False,
    smoothing: float = 10.0,
    every: int = 5,
    if_missing: str = "error",
    detector: str = "haar",
    name: str = "the video",
) -> np.ndarray:
    """Square crop boxes ``(T, 4)`` (int ``left, top, right, bottom``) for the iterable ``frames``.

    Args:
        moving: False (default): one box, repeated on every row, that holds
            every position of the face over the clip; its side is the face
            positions' extent plus ``(margin - 1)`` median face sides. True: a
            box per frame following the face, ``margin`` face sides wide.
        smoothing: for ``moving``, the standard deviation in frames of the
            Gaussian that smooths the boxes' centre and side over time.
        every, detector: see :func:`track_face_boxes`.
        margin, lift, if_missing, name: see :func:`face_crop_box`.

    Frames are read once; only the boxes are kept. Crop with :func:`crop_frames`.

    Example:
        >>> from skimage.data import astronaut
        >>> video_frames = [np.roll(astronaut() / 255.0, 4 * t, axis=1) for t in range(12)]  # a face moving right
        >>> boxes = video_crop_boxes(video_frames)
        >>> bool((boxes == boxes[0]).all())  # one fixed box for the clip
        True
        >>> np.stack(list(crop_frames(video_frames, boxes, 256))).shape
        (12, 256, 256, 3)
    """
    _check_missing(if_missing)
    times, faces, count, shape = _scan(frames, every, detector)
    if not len(faces):
        return np.tile(np.array(_missing(shape, if_missing, name)), (count, 1))
    if moving:
        track = gaussian_filter1d(_fill(times, faces, count), smoothing, axis=0, mode="nearest")
        return np.array([square_crop_box((x, y - lift * s), margin * s, shape) for x, y, s in track])
    median_side = np.median(faces[:, 2])
    boxes = _boxes(*faces.T)
    low, high = boxes[:, :2].min(0), boxes[:, 2:].max(0)
    centre = (low + high) / 2 - (0, lift * median_side)
    side = (high - low).max() + (margin - 1) * median_side
    return np.tile(np.array(square_crop_box(centre, side, shape)), (count, 1))


def crop(image: np.ndarray, box: Box | Iterable[int], size: int) -> np.ndarray:
    """``image[box]`` resized to ``(size, size, 3)`` float32 in [0, 1].

    Example:
        >>> crop(np.ones((90, 160, 3), np.float32), Box(35, 0, 125, 90), 64).shape
        (64, 64, 3)
    """
    left, top, right, bottom = (int(v) for v in box)
    part = np.asarray(_check_image(image)[top:bottom, left:right], dtype=np.float32)
    if part.shape[0] < 1 or part.shape[1] < 1:
        raise InputError(f"box {tuple(box)} lies outside the {image.shape[1]}x{image.shape[0]} image")
    shrink = part.shape[0] > size or part.shape[1] > size
    resized = cv2.resize(part, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.clip(resized, 0, 1)


def crop_frames(frames: Iterable[np.ndarray], boxes: Iterable[Box | Iterable[int]], size: int) -> Iterator[np.ndarray]:
    """Yield ``crop(frame, box, size)`` for each frame of the iterable ``frames`` and row of ``boxes``."""
    for frame, box in zip(frames, boxes, strict=True):
        yield crop(frame, box, size)


def crop_to_face(
    image: np.ndarray,
    size: int,
    margin: float = MARGIN,
    lift: float = LIFT,
    if_missing: str = "error",
    detector: str = "haar",
    name: str = "the image",
) -> np.ndarray:
    """The face of ``image`` ``(H, W, 3)`` as a ``(size, size, 3)`` crop (see :func:`face_crop_box`).

    Example:
        >>> from skimage.data import astronaut
        >>> crop_to_face(astronaut() / 255.0, 256).shape
        (256, 256, 3)
    """
    return crop(image, face_crop_box(image, margin, lift, if_missing, detector, name), size)


def __getattr__(name: str):
    """``plot_crop`` moved to :func:`fomm_nb.plotting.plot_crop`; ``fomm_nb.face.plot_crop`` still finds it.

    It is looked up on first use, so that importing this module does not load matplotlib.
    """
    if name == "plot_crop":
        from .plotting import plot_crop

        return plot_crop
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
