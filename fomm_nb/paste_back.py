"""Paste-back: each animated square put back into the whole photo it was cut from.

The model animates a square (64 or 256 pixels) cut from the photo: the face
crop, the centred square, or the whole photo padded or stretched. A person
wants the whole photo back, at its own size, with only the face moving.
:class:`PasteBack` maps each animated square through the crop box into the
photo:

1. The output has the photo's size, shrunk to at most :data:`MAX_SIDE`
   pixels on its longer side and cut to even sides (H.264 needs them; an odd
   last row or column is dropped, not resampled, so the photo's pixels stay
   exact).
2. The square is resized to the box's size there and blended over the photo
   with a weight that is 1 inside the box and falls linearly to 0 over the
   last ``feather`` pixels before each box side, a feathered seam. A side that
   lies on the photo's edge is not feathered: nothing is beyond it.
3. Outside the box every pixel is the photo's.

Boxes are in the photo's pixels, ``(left, top, right, bottom)`` with right
and bottom exclusive; for the ``"pad"`` framing the box reaches past the
photo (the padding), and only its part inside the photo is pasted.

Example:
    >>> photo = np.zeros((101, 160, 3), np.float32)
    >>> paste = PasteBack(photo, Box(40, 20, 104, 84))
    >>> frame = paste(np.ones((64, 64, 3), np.float32))
    >>> frame.shape, paste.size
    ((100, 160, 3), (100, 160))
    >>> float(frame[52, 72, 0]), float(frame[5, 5, 0])  # inside the box, outside it
    (1.0, 0.0)
    >>> [float(frame[row, 72, 0]) for row in (20, 21, 22)]  # the box's first rows: 0, 1 and 2 of the seam's 6.4 pixels
    [0.0, 0.15625, 0.3125]
"""

import math

import numpy as np

from .errors import InputError
from .face import Box
from .media.framing import resize

__all__ = ["MAX_SIDE", "FEATHER", "output_size", "square_box", "PasteBack"]

#: The longest side of a pasted-back video, in pixels (a larger photo is shrunk to it): full HD.
MAX_SIDE = 1920
#: The feathered seam's width, as a part of the box's shorter side.
FEATHER = 0.1


def output_size(height: int, width: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The ``(height, width)`` of a pasted-back frame for a ``height`` x ``width`` photo: even, longer side <= ``max_side``.

    Example:
        >>> output_size(513, 512), output_size(3000, 4000)
        ((512, 512), (1440, 1920))
    """
    scale = min(1.0, max_side / max(height, width))
    even = lambda side: max(2, int(side * scale + 1e-6) // 2 * 2)  # noqa: E731
    return even(height), even(width)


def square_box(mode: str, height: int, width: int, box: Box) -> tuple[float, float, float, float]:
    """The rectangle of a ``height`` x ``width`` photo that the model's square shows, for the framing ``mode``.

    ``box`` is the framing's box (:class:`fomm_nb.pipeline.Framing`); for
    ``"pad"`` the square also holds padding, so its rectangle is the photo's
    longer side on both axes, centred, reaching past the photo.

    Example:
        >>> square_box("pad", 100, 200, Box(0, 0, 200, 100))
        (0.0, -50.0, 200.0, 150.0)
    """
    if mode != "pad":
        return tuple(float(value) for value in box)
    side = max(height, width)
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def _ramp(length: int, feather: float, fade_start: bool, fade_end: bool) -> np.ndarray:
    """Weights ``(length,)``: 1 in the middle, falling to 0 over ``feather`` pixels at each end that fades."""
    position = np.arange(length, dtype=np.float32)  # the first pixel keeps the photo: no step at the box's side
    weight = np.ones(length, np.float32)
    if feather > 0:
        if fade_start:
            weight = np.minimum(weight, position / feather)
        if fade_end:
            weight = np.minimum(weight, (length - 1 - position) / feather)
    return np.clip(weight, 0.0, 1.0)


class PasteBack:
    """Put animated squares back into ``photo`` ``(H, W, 3)`` float32 through ``box`` (the photo's pixels).

    Args:
        photo: the whole photo, float32 in [0, 1].
        box: the part of the photo the square shows (see :func:`square_box`).
        max_side: the output's longest side at most (:data:`MAX_SIDE`).
        feather: the seam's width as a part of the box's shorter side (0: a hard edge).

    Attributes:
        size: the output's ``(height, width)`` (:func:`output_size`).
    """

    def __init__(self, photo: np.ndarray, box: Box | tuple[float, float, float, float],
                 max_side: int = MAX_SIDE, feather: float = FEATHER) -> None:
        height, width = photo.shape[:2]
        self.size = output_size(height, width, max_side)
        scale = min(1.0, max_side / max(height, width))
        left, top, right, bottom = (value * scale for value in box)
        if right - left < 1 or bottom - top < 1:
            raise InputError(f"the crop box {tuple(box)} is empty")
        if scale < 1:
            photo = resize(photo, round(height * scale), round(width * scale))
        out_height, out_width = self.size
        self.photo = np.ascontiguousarray(photo[:out_height, :out_width], dtype=np.float32)  # (h, w, 3)
        # The whole box in output pixels, and the part of it inside the output.
        self._box = (round(left), round(top), round(right), round(bottom))
        x0, y0 = max(self._box[0], 0), max(self._box[1], 0)
        x1, y1 = min(self._box[2], out_width), min(self._box[3], out_height)
        if x0 >= x1 or y0 >= y1:
            raise InputError(f"the crop box {tuple(box)} lies outside the {width}x{height} photo")
        self._inside = (slice(y0 - self._box[1], y1 - self._box[1]), slice(x0 - self._box[0], x1 - self._box[0]))
        self._target = (slice(y0, y1), slice(x0, x1))
        seam = _check_feather(feather) * min(self._box[2] - self._box[0], self._box[3] - self._box[1])
        rows = _ramp(y1 - y0, seam, y0 > 0, y1 < out_height)
        columns = _ramp(x1 - x0, seam, x0 > 0, x1 < out_width)
        self.weight = (rows[:, None] * columns[None, :])[..., None]  # (h_box, w_box, 1)

    def __call__(self, square: np.ndarray) -> np.ndarray:
        """The photo with ``square`` ``(S, S, 3)`` pasted through the box: ``size + (3,)`` float32."""
        left, top, right, bottom = self._box
        part = resize(np.asarray(square, np.float32), bottom - top, right - left)[self._inside]
        frame = self.photo.copy()
        under = frame[self._target]
        frame[self._target] = under + self.weight * (part - under)
        return frame


def _check_feather(feather: float) -> float:
    if not (isinstance(feather, (int, float)) and math.isfinite(feather) and 0 <= feather <= 0.5):
        raise InputError(f"feather must be a number from 0 to 0.5, got {feather!r}")
    return feather
