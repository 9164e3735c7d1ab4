"""Images in and out: ``(H, W, 3)`` float32 arrays in [0, 1].

:func:`read_image` reads png, jpg, webp, bmp and tiff with Pillow, turns
phone photos upright (EXIF orientation), makes grayscale and palette images
RGB and lays transparent images on white. :func:`write_image` writes by the
file's suffix, whole or not at all.

Example:
    >>> write_image("face.png", np.full((48, 64, 3), 0.5, np.float32))
    PosixPath('face.png')
    >>> read_image("face.png").shape
    (48, 64, 3)
"""

import contextlib
import re
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError, MediaError
from . import files
from .files import check_file, check_target, replacing

__all__ = ["IMAGE_SUFFIXES", "PILLOW_ERRORS", "read_image", "write_image", "quiet_pillow", "open_pillow",
           "upright_size", "pixels_of", "as_image", "as_bytes",
           "wxh"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""Files read as images (and as one-frame videos); a folder's frames must have one of them."""

_ORIENTATION = 0x0112  # the EXIF tag; 5 to 8 turn the picture by a quarter


@contextlib.contextmanager
def quiet_pillow() -> Iterator[None]:
    """Pillow's warnings (truncated TIFF, decompression bomb) unshown: the one-line error says it all."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# What Pillow raises on damaged data: truncated files end in OSError, but cut headers and
# frame tables also give SyntaxError, ValueError, IndexError, EOFError or struct.error.
PILLOW_ERRORS = (OSError, SyntaxError, ValueError, IndexError, EOFError, struct.error)


def _bomb(path: Path, error: Exception) -> MediaError:
    """The one line for Pillow's decompression-bomb guards (pixels, or text chunks that inflate)."""
    declared = re.search(r"Image size \((\d+) pixels\)", str(error))
    if declared:
        return MediaError(f"{path}: the image declares {int(declared[1]) / 1e6:,.0f} megapixels, over fomm-nb's "
                          f"budget of {files.MAX_PIXELS / 1e6:g} megapixels (a decompression bomb?)")
    return MediaError(f"{path}: refused: its compressed text chunks inflate too far (a decompression bomb?)")


def open_pillow(path: Path, what: str) -> Image.Image:
    """``Image.open(path)``: the header is read, the size checked against the pixel budget, no pixel decoded.

    Anything Pillow cannot read, and pictures over
    :data:`~fomm_nb.media.files.MAX_PIXELS`, raise MediaError.
    """
    check_file(path, what)
    try:
        with quiet_pillow():
            image = Image.open(path)
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not {what} (Pillow cannot read it)") from None
    except Image.DecompressionBombError as error:
        raise _bomb(path, error) from None
    except ValueError as error:
        if "too large" in str(error) or "Too much memory" in str(error):
            raise _bomb(path, error) from None
        raise MediaError(f"{path}: cannot read the file ({error})") from None
    except PILLOW_ERRORS as error:
        raise MediaError(f"{path}: cannot read the file ({getattr(error, 'strerror', None) or error})") from None
    try:
        files.check_pixels(path, *image.size, "the image" if what == "an image" else "each frame")
    except MediaError:
        image.close()
        raise
    return image


def upright_size(image: Image.Image) -> tuple[int, int]:
    """``(H, W)`` of ``image`` once turned upright by its EXIF orientation, without decoding its pixels.

    A PNG's EXIF is taken only where it precedes the pixels (reading one
    that follows them would decode the image).

    Example:
        >>> upright_size(Image.new("RGB", (64, 48)))
        (48, 64)
    """
    width, height = image.size
    if image.format == "PNG":
        exif = Image.Exif()
        if "exif" in image.info:
            exif.load(image.info["exif"])
    else:
        exif = image.getexif()
    turned = exif.get(_ORIENTATION, 1) in (5, 6, 7, 8)
    return (width, height) if turned else (height, width)


def pixels_of(image: Image.Image) -> np.ndarray:
    """A Pillow image as ``(H, W, 3)`` float32 in [0, 1]; transparency is laid on white.

    Example:
        >>> pixels_of(Image.new("LA", (4, 2), (0, 0))).max()  # transparent black on white
        np.float32(1.0)
    """
    if image.mode.startswith("I;16"):  # 16-bit grayscale
        gray = np.asarray(image, dtype=np.float32) / 65535
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + (1 - alpha)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    rgb /= 255  # in place: a 50-megapixel image is 0.6 GB
    return rgb


def read_image(path: str | Path) -> np.ndarray:
    """The image at ``path`` as ``(H, W, 3)`` float32 in [0, 1].

    Turned upright by its EXIF orientation; grayscale, palette and 16-bit
    images become RGB; transparent pixels become white. A missing, empty or
    unreadable file raises :class:`~fomm_nb.errors.MediaError`.

    Example:
        >>> write_image("face.png", np.zeros((48, 64, 3), np.float32))
        PosixPath('face.png')
        >>> read_image("face.png").shape
        (48, 64, 3)
    """
    path = Path(path)
    with open_pillow(path, "an image") as image, quiet_pillow():
        try:
            return pixels_of(ImageOps.exif_transpose(image))
        except PILLOW_ERRORS as error:
            raise MediaError(f"{path}: the image is damaged ({error})") from None


def as_image(frame: np.ndarray, what: str = "the frame") -> np.ndarray:
    """``frame`` as an ``(H, W, 3)`` float32 array; uint8 values are divided by 255.

    Example:
        >>> as_image(np.full((2, 2, 3), 255, np.uint8)).max()
        np.float32(1.0)
    """
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{what} must be an (H, W, 3) image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255
    return array.astype(np.float32, copy=False)


def as_bytes(frame: np.ndarray, what: str = "the frame") -> np.ndarray:
    """``(H, W, 3)`` uint8 of a float image in [0, 1] (clipped, rounded) or of a uint8 one.

    Example:
        >>> as_bytes(np.full((1, 1, 3), 0.5, np.float32)).ravel().tolist()
        [128, 128, 128]
    """
    array = np.asarray(frame)
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        return array
    return (np.clip(as_image(array, what), 0, 1) * 255 + 0.5).astype(np.uint8)


def wxh(shape: tuple[int, ...]) -> str:
    """``(H, W, ...)`` as ``"WxH"``, the way sizes are written in messages.

    >>> wxh((48, 64, 3))
    '64x48'
    """
    return f"{shape[1]}x{shape[0]}"


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write ``image`` ``(H, W, 3)`` (float in [0, 1] or uint8) to ``path``; the format follows the suffix.

    Example:
        >>> write_image("frame.png", np.zeros((64, 64, 3), np.float32))
        PosixPath('frame.png')
    """
    path = Path(path)
    kind = Image.registered_extensions().get(path.suffix.lower())
    if kind is None:
        raise MediaError(f"{path}: unknown image type '{path.suffix}'; use .png or .jpg")
    check_target(path)
    picture = Image.fromarray(as_bytes(image, "the image"))
    with replacing(path) as partial:
        try:
            picture.save(partial, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
        except (OSError, ValueError) as error:  # e.g. a JPEG wider than 65,500 pixels
            raise MediaError(f"{path}: cannot write the image ({error})") from None
    return path
