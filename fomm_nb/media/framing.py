"""Frames brought to the model's square size, crops, and frames put side by side with labels.

Resizing averages areas when shrinking (OpenCV ``INTER_AREA``: no aliasing,
about 10x faster than torch's antialiased bilinear) and is bilinear when
enlarging; deterministic.

Example:
    >>> fit_frame(np.ones((144, 176, 3), np.float32), 64, mode="pad").shape
    (64, 64, 3)
"""

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError
from .images import as_image

__all__ = ["resize", "fit_frame", "crop_box", "side_by_side"]


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W, 3)`` -> ``(height, width, 3)`` float32: area averaging when shrinking (no aliasing), else bilinear.

    Example:
        >>> resize(np.ones((144, 176, 3), np.float32), 36, 44).shape
        (36, 44, 3)
    """
    if image.shape[:2] == (height, width):
        return np.array(image, dtype=np.float32)
    shrink = height <= image.shape[0] and width <= image.shape[1]
    resized = cv2.resize(np.ascontiguousarray(image, dtype=np.float32), (width, height),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.clip(resized, 0, 1)


def _pad_to_square(image: np.ndarray, size: int) -> np.ndarray:
    """Fit ``image`` in ``(size, size, 3)``, the rest filled with the mean colour of the two edges padded."""
    height, width = image.shape[:2]
    edges = np.concatenate([image[0], image[-1]] if height < width else [image[:, 0], image[:, -1]])
    scale = size / max(height, width)
    inner_height, inner_width = max(1, round(height * scale)), max(1, round(width * scale))
    square = np.empty((size, size, 3), np.float32)
    square[:] = edges.mean(axis=0)
    top, left = (size - inner_height) // 2, (size - inner_width) // 2
    square[top:top + inner_height, left:left + inner_width] = resize(image, inner_height, inner_width)
    return square


def fit_frame(frame: np.ndarray, size: int, mode: str = "crop") -> np.ndarray:
    """``frame`` ``(H, W, 3)`` brought to the model's ``(size, size, 3)`` float32.

    Args:
        mode: ``"crop"`` cuts the centred square (default); ``"pad"`` keeps
            the whole frame and fills the short side with the mean colour of
            the two padded edges (no hard black bars for the keypoints to
            find); ``"stretch"`` resizes without keeping the aspect ratio.

    Resizing is :func:`resize`, as in :func:`fomm_nb.face.crop`.

    Example:
        >>> fit_frame(np.ones((144, 176, 3), np.float32), 64).shape
        (64, 64, 3)
    """
    image = as_image(frame)
    height, width = image.shape[:2]
    if mode == "crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top:top + side, left:left + side]
    elif mode == "pad":
        return _pad_to_square(image, size)
    elif mode != "stretch":
        raise InputError(f"mode must be 'crop', 'pad' or 'stretch', got {mode!r}")
    return resize(image, size, size)


def crop_box(frame: np.ndarray, box: Sequence[float], size: int | None = None) -> np.ndarray:
    """The part ``box`` = ``(x0, y0, x1, y1)`` (pixels, x1 and y1 excluded) of ``frame`` ``(H, W, 3)``.

    With ``size`` the crop is resized to ``(size, size, 3)``.

    Example:
        >>> crop_box(np.ones((144, 176, 3), np.float32), (20, 10, 120, 110), size=64).shape
        (64, 64, 3)
    """
    image = as_image(frame)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InputError(f"box {tuple(box)} does not lie inside the {width}x{height} frame")
    part = image[y0:y1, x0:x1]
    return np.array(part) if size is None else resize(part, size, size)


def _font(height: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=height)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _label_strip(widths: list[int], labels: Sequence[str], height: int) -> np.ndarray:
    """A dark ``(height, sum(widths), 3)`` strip with each label centred above its panel."""
    strip = Image.new("RGB", (sum(widths), height), (32, 32, 32))
    draw, font = ImageDraw.Draw(strip), _font(round(height * 0.7))
    left = 0
    for width, label in zip(widths, labels):
        x0, y0, x1, y1 = draw.textbbox((0, 0), str(label), font=font)
        draw.text((left + (width - x1 - x0) / 2, (height - y1 - y0) / 2), str(label), fill=(255, 255, 255), font=font)
        left += width
    return np.asarray(strip, dtype=np.float32) / 255


def side_by_side(*frames: np.ndarray, labels: Sequence[str] | None = None, height: int | None = None) -> np.ndarray:
    """Frames ``(H_i, W_i, 3)`` resized to one height and put in a row: ``(height, sum W, 3)``.

    Args:
        height: the common height (default: the tallest frame's).
        labels: one text per frame, written in a dark strip above the row
            (the result is then taller by ``max(12, height // 10)`` rounded up to even).

    Example:
        >>> source, driving, result = (np.zeros((64, 64, 3), np.float32),) * 3
        >>> side_by_side(source, driving, result).shape
        (64, 192, 3)
        >>> side_by_side(source, driving, result, labels=["source", "driving", "result"]).shape
        (76, 192, 3)
    """
    images = [as_image(frame, f"frame {i}") for i, frame in enumerate(frames)]
    if not images:
        raise InputError("side_by_side needs at least one frame")
    height = height or max(image.shape[0] for image in images)
    panels = [resize(image, height, max(1, round(image.shape[1] * height / image.shape[0]))) for image in images]
    row = np.concatenate(panels, axis=1)
    if labels is None:
        return row
    if len(labels) != len(panels):
        raise InputError(f"{len(labels)} labels for {len(panels)} frames")
    strip_height = max(12, height // 10)
    strip = _label_strip([panel.shape[1] for panel in panels], labels, strip_height + strip_height % 2)
    return np.concatenate([strip, row], axis=0)
