"""How well could any reader place the landmarks? The Cramér-Rao floor of a rendered face.

A procedural frame is a function of a few dozen numbers: the identity's
proportions and colours and the pose (:mod:`fomm_nb.data.cartoon`), and so are
its landmarks. With gaussian noise of standard deviation ``noise`` on every
pixel and colour, no unbiased reader can place the landmarks more precisely
than the Cramér-Rao bound: the covariance of its reading is at least

    J_L (J_I^T J_I / noise^2)^-1 J_L^T

where ``J_I`` and ``J_L`` are the derivatives of the (blurred) image and of the
landmarks with respect to those numbers (:func:`render_jacobians`). A reader
that knows how the numbers are spread over the data set can do a little
better: taking that spread as a gaussian prior adds ``1 / spread^2`` to the
diagonal (the Bayesian form of the bound). Without noise the floor is 0; blur
raises it by flattening the edges that the numbers move.

Example:
    >>> from fomm_nb.data.procedural import split_seed, video_parameters
    >>> identity, poses = video_parameters(split_seed("test", 0), num_frames=1)
    >>> image_jacobian, landmark_jacobian = render_jacobians(identity, poses[0])
    >>> floor = reading_floor(image_jacobian, landmark_jacobian, noise=0.03)
    >>> floor.shape, bool(0.0 < floor.mean() < 0.1)
    ((13,), True)
"""

import dataclasses

import numpy as np
import torch

from ..data.cartoon import Identity, Pose, landmarks
from ..data.painter import render
from ..data.procedural import split_seed, video_parameters
from .training import gaussian_blur

__all__ = ["face_parameters", "with_face_parameters", "parameter_spread", "render_jacobians", "blurred",
           "reading_floor"]

_DISCRETE = ("hair_style", "hair_side")  # integers: not moved by a small step


def _leaves(value) -> list[float]:
    """The floats of a number or a nested tuple of numbers, in order."""
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [float(value)]


def _rebuilt(template, numbers):
    """``template`` (a number or nested tuple) with its floats taken in order from the iterator ``numbers``."""
    if isinstance(template, tuple):
        return tuple(_rebuilt(item, numbers) for item in template)
    return float(next(numbers))


def _continuous_fields(identity: Identity) -> list[str]:
    return [field.name for field in dataclasses.fields(identity) if field.name not in _DISCRETE]


def face_parameters(identity: Identity, pose: Pose) -> tuple[list[str], np.ndarray]:
    """Every continuous number that draws this face: names and values ``(P,)``.

    The identity's proportions and colours (a tuple's items as ``name[i]``),
    then the pose's as ``pose.<name>``; the hair style and parting side are
    left out (integers).

    Example:
        >>> from fomm_nb.data.cartoon import Pose
        >>> names, values = face_parameters(Identity.random(np.random.default_rng(0)), Pose(tx=0.2))
        >>> names[0], names[-9], float(values[-9])
        ('head_width', 'pose.tx', 0.2)
    """
    names, values = [], []
    for name in _continuous_fields(identity):
        value = getattr(identity, name)
        leaves = _leaves(value)
        names += [f"{name}[{index}]" for index in range(len(leaves))] if isinstance(value, tuple) else [name]
        values += leaves
    for field in dataclasses.fields(pose):
        names.append(f"pose.{field.name}")
        values.append(float(getattr(pose, field.name)))
    return names, np.array(values)


def with_face_parameters(identity: Identity, pose: Pose, values: np.ndarray) -> tuple[Identity, Pose]:
    """``identity`` and ``pose`` with :func:`face_parameters`' numbers replaced by ``values`` ``(P,)``.

    Example:
        >>> face = Identity.random(np.random.default_rng(0)), Pose()
        >>> with_face_parameters(*face, face_parameters(*face)[1]) == face
        True
    """
    numbers = iter(values)
    identity = dataclasses.replace(identity, **{name: _rebuilt(getattr(identity, name), numbers)
                                                for name in _continuous_fields(identity)})
    return identity, dataclasses.replace(pose, **{field.name: float(next(numbers)) for field in dataclasses.fields(pose)})


def parameter_spread(num_videos: int = 500, frames_per_video: int = 4) -> dict[str, float]:
    """The standard deviation of each of :func:`face_parameters`' numbers over training-split videos, by name.

    ``frames_per_video`` poses are taken from each 32-frame video, evenly spaced.

    Example:
        >>> spread = parameter_spread(num_videos=20)
        >>> bool(0.02 < spread["head_width"] < 0.04), bool(spread["pose.tx"] > 0)
        (True, True)
    """
    values: dict[str, list[float]] = {}
    for index in range(num_videos):
        identity, poses = video_parameters(split_seed("train", index), 32)
        for pose in poses[:: 32 // frames_per_video]:
            for name, value in zip(*face_parameters(identity, pose)):
                values.setdefault(name, []).append(value)
    return {name: float(np.std(numbers)) for name, numbers in values.items()}


def render_jacobians(identity: Identity, pose: Pose, size: int = 64, step: float = 1e-3
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of the image and of the landmarks with respect to :func:`face_parameters`.

    Returns ``(image_jacobian (S*S*3, P), landmark_jacobian (2L, P))``: per
    unit of each number, the image in [0, 1] (``(y, x, colour)`` flattened),
    the landmarks in pixels (``(x, y)`` per landmark). Forward differences of
    ``step``: the anti-aliased drawing is piecewise linear in the numbers, and
    a step of 1e-3 moves an edge by about 0.03 pixels at 64x64.

    Example:
        >>> from fomm_nb.data.cartoon import Pose
        >>> face = Identity.random(np.random.default_rng(0)), Pose()
        >>> image_jacobian, landmark_jacobian = render_jacobians(*face, size=32)
        >>> tx = face_parameters(*face)[0].index("pose.tx")
        >>> [round(float(v), 2) for v in landmark_jacobian[:2, tx]]  # tx 1 moves every landmark half a frame right
        [15.5, 0.0]
    """
    _, values = face_parameters(identity, pose)
    image, points = render(identity, pose, size).astype(np.float64), landmarks(identity, pose, size).astype(np.float64)
    image_columns, landmark_columns = [], []
    for index in range(len(values)):
        moved = values.copy()
        moved[index] += step
        face = with_face_parameters(identity, pose, moved)
        image_columns.append((render(*face, size) - image).ravel() / step)
        landmark_columns.append((landmarks(*face, size) - points).ravel() / step)
    return np.stack(image_columns, axis=1), np.stack(landmark_columns, axis=1)


def blurred(image_jacobian: np.ndarray, blur: float, size: int = 64) -> np.ndarray:
    """The image jacobian ``(S*S*3, P)`` of the same frames blurred by a gaussian of ``blur`` pixels (blur is linear).

    Example:
        >>> column = np.zeros((9 * 9 * 3, 1)); column[(4 * 9 + 4) * 3] = 1.0  # the middle pixel's red
        >>> round(float(blurred(column, 1.0, size=9).sum()), 4), round(float(blurred(column, 1.0, size=9).max()), 3)
        (1.0, 0.159)
    """
    columns = torch.from_numpy(image_jacobian.T.reshape(-1, size, size, 3)).permute(0, 3, 1, 2)
    smooth = gaussian_blur(columns, torch.full((len(columns),), float(blur), dtype=columns.dtype))
    return smooth.permute(0, 2, 3, 1).reshape(len(columns), -1).numpy().T


def reading_floor(image_jacobian: np.ndarray, landmark_jacobian: np.ndarray, noise: float,
                  prior_spread: np.ndarray | None = None) -> np.ndarray:
    """The Cramér-Rao floor of each landmark's reading: root mean square distance in pixels, ``(L,)``.

    ``image_jacobian`` ``(N, P)`` and ``landmark_jacobian`` ``(2L, P)`` as
    from :func:`render_jacobians` (blurred or not); ``noise`` the standard
    deviation of gaussian noise on every pixel and colour; ``prior_spread``
    ``(P,)`` each number's spread, taken as a gaussian prior. Without a prior,
    numbers the image does not show (a freckle under the hair) are treated as
    known, which can only lower the floor. A reader whose errors are gaussian
    with this covariance errs 0.80-0.89 times the floor on average (distance,
    not squared).

    Example:
        >>> x, y = np.meshgrid(np.arange(32.0), np.arange(32.0))
        >>> spot = np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / 8)  # a round spot; its centre is the landmark
        >>> moves = np.stack([(x - 16) / 4 * spot, (y - 16) / 4 * spot], -1).reshape(-1, 2)  # d spot / d centre
        >>> reading_floor(moves, np.eye(2), noise=0.1).round(4)  # sqrt(2) * 0.1 / sqrt(pi / 2), two axes
        array([0.1128])
    """
    information = image_jacobian.T @ image_jacobian / noise**2
    if prior_spread is not None:
        information = information + np.diag(1.0 / np.asarray(prior_spread) ** 2)
    covariance = landmark_jacobian @ np.linalg.pinv(information, hermitian=True) @ landmark_jacobian.T
    return np.sqrt(np.diag(covariance).reshape(-1, 2).sum(axis=1))
