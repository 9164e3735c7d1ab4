"""The driving frame whose pose is closest to the source's, and animation from it.

Relative motion transfer moves the source by the driving keypoints'
displacement since an *initial* driving frame. If the video starts in a
pose unlike the source's (head turned, mouth open), every frame inherits
that mismatch. The published ``demo.py --find_best_frame`` picks instead the
frame closest in pose to the source and animates from there.

*Pose distance*: each keypoint set ``(K, 2)`` is centred on its mean and
divided by the square root of its convex hull's area, so position and size
do not count; the distance is the sum of squared differences. Sets with no
hull area (fewer than 3 points, or all on one line) are divided by their
root-mean-square distance from the centre instead; a set of identical points
is only centred. The distance ignores rotation, as published.

*Keypoints*: ``method="keypoints"`` (default) uses the model's own keypoints:
it works for every domain (faces, bodies, cartoons) with no extra package.
``method="landmarks"`` uses 68 face landmarks, as published; it needs the
optional ``face_alignment`` package and its models
(see :func:`fomm_nb.face.face_landmarks`). Frames without a face never win.

*Memory*: :func:`find_best_frame` reads the frames once, a batch at a time.
:func:`animate_from_best_frame` needs the best frame before the first output
frame: a sequence (list, array) is indexed, any other iterable is buffered up
to the best frame (``index + 1`` frames). A video file is read twice: once
to find the index, once to animate (that pass buffers ``index + 1`` frames
unless the reader can be indexed).

Example:
    >>> from fomm_nb.data import make_video
    >>> from fomm_nb.hub import get_model
    >>> driving = make_video(seed=7, num_frames=12).frames  # (12, 64, 64, 3)
    >>> source = driving[5]  # a picture in one of the clip's poses
    >>> engine = AnimationEngine(get_model("demo", device="cpu"))
    >>> kp_source = engine.set_source(source)
    >>> index = find_best_frame(engine, source, driving)
    >>> index
    5
    >>> frames = list(animate_from_best_frame(engine, driving, index))
    >>> len(frames)
    12
"""

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice

import numpy as np

from .animate import AnimationEngine
from .errors import InputError
from .errors import FaceNotFoundError
from .face import face_landmarks
from .model import FirstOrderModel
from .motion import hull_area

__all__ = ["normalize_pose", "pose_distance", "closest_pose", "find_best_frame", "animate_from_best_frame"]

FLAT = 1e-3  # a hull whose sqrt(area) is below this fraction of the radius counts as flat


def normalize_pose(points: np.ndarray) -> np.ndarray:
    """Keypoints ``(K, 2)`` centred on their mean and scaled to unit sqrt(convex-hull area).

    Degenerate sets fall back to unit root-mean-square radius, then to centring only.

    Example:
        >>> normalize_pose(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]))
        array([[-0.5, -0.5],
               [ 0.5, -0.5],
               [-0.5,  0.5],
               [ 0.5,  0.5]])
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise InputError(f"keypoints must be (K, 2), got shape {points.shape}")
    centred = points - points.mean(axis=0)
    radius = np.sqrt((centred**2).sum(axis=1).mean())  # root-mean-square distance from the centre
    scale = np.sqrt(hull_area(points)) if len(points) >= 3 else 0.0
    if not scale > FLAT * radius:  # no hull, or a sliver of one: points (nearly) on a line
        scale = radius
    return centred / scale if scale > 0 else centred


def pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of squared differences of :func:`normalize_pose` of ``a`` and ``b`` ``(K, 2)``.

    Example:
        >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> float(pose_distance(square, 3 * square + 5))
        0.0
    """
    return float(((normalize_pose(a) - normalize_pose(b)) ** 2).sum())


def _keypoint_poses(
    model_or_engine: FirstOrderModel | AnimationEngine, source: np.ndarray, frames: Iterable[np.ndarray]
) -> Iterator[np.ndarray]:
    """Yield ``(K, 2)`` keypoints of the source, then of every frame, detected by batches."""
    engine = model_or_engine if isinstance(model_or_engine, AnimationEngine) else AnimationEngine(model_or_engine)
    for batch in chain([np.asarray(source, dtype=np.float32)[None]], engine._batches(frames)):
        yield from engine.detect(batch)["value"].cpu().double().numpy()


def _landmark_poses(source: np.ndarray, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray | None]:
    """Yield the 68 face landmarks of the source, then of every frame (None where no face)."""
    points = face_landmarks(source)
    if points is None:
        raise FaceNotFoundError("the source image: no face found for landmark matching; use method='keypoints'")
    yield points
    for frame in frames:
        yield face_landmarks(frame)


def find_best_frame(
    model_or_engine: FirstOrderModel | AnimationEngine,
    source: np.ndarray,
    frames: Iterable[np.ndarray],
    method: str = "keypoints",
) -> int:
    """Index of the frame of ``frames`` whose pose is closest to ``source``'s.

    Args:
        model_or_engine: a :class:`~fomm_nb.model.FirstOrderModel` or an
            :class:`~fomm_nb.animate.AnimationEngine` (its source is not
            touched; its ``batch_size`` sets how many frames go through the
            keypoint detector at once).
        source: ``(H, W, 3)`` float image in [0, 1].
        frames: an iterable of ``(H, W, 3)`` frames, read once.
        method: ``"keypoints"`` (the model's) or ``"landmarks"`` (face_alignment's).

    Returns:
        The first index of the smallest :func:`pose_distance`; 0 when no
        frame gives a finite distance.

    Example:
        >>> from fomm_nb.data import make_video
        >>> from fomm_nb.hub import get_model
        >>> driving = make_video(seed=7, num_frames=12).frames
        >>> find_best_frame(get_model("demo", device="cpu"), driving[8], driving)
        8
    """
    if method == "keypoints":
        poses = _keypoint_poses(model_or_engine, source, frames)
    elif method == "landmarks":
        poses = _landmark_poses(source, frames)
    else:
        raise InputError(f"method must be 'keypoints' or 'landmarks', got {method!r}")
    return closest_pose(next(poses), poses)


def closest_pose(reference: np.ndarray, poses: Iterable[np.ndarray | None]) -> int:
    """Index of the pose of the iterable ``poses`` (each ``(K, 2)``, or None) nearest to ``reference``.

    Uses :func:`pose_distance`; the first of equal distances wins; None and
    NaN poses never win; 0 when none gives a finite distance.

    Example:
        >>> triangle = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> closest_pose(triangle, [triangle[::-1], None, 2 * triangle - 1])
        2
    """
    best, best_distance, count = 0, np.inf, 0
    for index, pose in enumerate(poses):
        count += 1
        if pose is None:
            continue
        distance = pose_distance(pose, reference)
        if distance < best_distance:  # NaN compares False
            best, best_distance = index, distance
    if count == 0:
        raise InputError("no driving frames: the video is empty")
    return best


def _with_frame_at(frames: Iterable[np.ndarray], index: int) -> tuple[Iterable[np.ndarray], np.ndarray]:
    """``(frames again, frames[index])``: indexed for sequences, buffered up to ``index`` otherwise."""
    if index < 0:
        raise InputError(f"the best frame index must be 0 or more, got {index}")
    if isinstance(frames, (Sequence, np.ndarray)):
        if index >= len(frames):
            raise InputError(f"best frame {index} is past the end of the {len(frames)} driving frames")
        return frames, frames[index]
    iterator = iter(frames)
    head = list(islice(iterator, index + 1))
    if len(head) <= index:
        raise InputError(f"best frame {index} is past the end of the {len(head)} driving frames")
    return chain(head, iterator), head[index]


def animate_from_best_frame(engine: AnimationEngine, frames: Iterable[np.ndarray], index: int) -> Iterator[np.ndarray]:
    """Animate ``frames`` with frame ``index`` as the initial driving frame, in the original order.

    The published demo animates forwards from the best frame and backwards
    to the start, each pass relative to the best frame. As every output
    frame depends only on its driving frame and the initial one, this is the
    same as one pass in the original order with the best frame as initial:
    that is what this does, streaming.

    Args:
        engine: an :class:`~fomm_nb.animate.AnimationEngine` with its source
            set; its initial driving frame becomes ``frames[index]``.
        frames: the driving ``(H, W, 3)`` frames: a sequence, or an iterable
            (buffered up to ``index``).
        index: the best frame, say from :func:`find_best_frame`.

    Returns:
        An iterator of ``(H, W, 3)`` float32 frames, one per driving frame,
        in the original order, computed lazily by batches.

    Example:
        >>> video = np.stack(list(animate_from_best_frame(engine, driving, 42)))  # doctest: +SKIP
    """
    frames, best = _with_frame_at(frames, index)
    engine.set_initial_driving(best)
    return engine.stream(frames)
