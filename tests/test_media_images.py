"""Hostile images: decompression bombs, pictures over the pixel budget, truncated files of every format.

Each is refused with one :class:`~fomm_nb.errors.MediaError` line that names
the file, quickly and without decoding gigabytes, and with no third-party
warning on the side. The files are made here, byte by byte where Pillow
would not write them.
"""

import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from fomm_nb import MediaError
from fomm_nb.media import open_video, read_image, write_image
from fomm_nb.media.files import MAX_PIXELS

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF", "gif": "GIF"}


def chunk(kind, data):
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, *extra_chunks):
    """A valid PNG header declaring ``width`` x ``height`` RGB, with a few rows of real data (the rest missing)."""
    rows = b"".join(b"\0" + bytes(3 * width) for _ in range(min(height, 2)))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + b"".join(extra_chunks) + chunk(b"IDAT", zlib.compress(rows)) + chunk(
        b"IEND", b"")


def inflating_text(kind, size):
    """A zTXt or iTXt chunk whose text inflates to ``size`` bytes (a few hundred bytes in the file)."""
    text = zlib.compress(b"a" * size, 9)
    return chunk(kind, b"Comment\0\0" + text if kind == b"zTXt" else b"Comment\0\1\0\0\0" + text)


def assert_one_line(caught, path):
    message = str(caught.value)
    assert path.name in message and "\n" not in message, message


def refused_quickly(path, recwarn, seconds=2.0, megabytes=50):
    """The MediaError of ``read_image(path)``, checked to come within ``seconds`` and ``megabytes`` and silently."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(MediaError) as caught:
            read_image(path)
        elapsed, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < seconds and peak < megabytes * 2**20, (elapsed, peak)
    assert not [str(w.message) for w in recwarn], "a third-party warning would add lines to the error"
    assert_one_line(caught, path)
    return str(caught.value)


@pytest.mark.parametrize("width, height", [(13000, 13000), (100_000, 100_000), (MAX_PIXELS + 1, 1)])
def test_an_image_over_the_pixel_budget_is_refused_from_its_header(tmp_path, recwarn, width, height):
    path = tmp_path / "huge.png"
    path.write_bytes(png_bytes(width, height))
    message = refused_quickly(path, recwarn)
    assert f"budget of {MAX_PIXELS / 1e6:g} megapixels" in message
    assert f"{width}x{height}" in message or f"{width * height / 1e6:,.0f} megapixels" in message


def test_the_budget_names_file_size_and_budget_in_one_line(tmp_path):
    path = tmp_path / "poster.png"
    path.write_bytes(png_bytes(13000, 13000))
    with pytest.raises(MediaError) as caught:
        read_image(path)
    assert str(caught.value) == (f"{path}: the image is 13000x13000 (169.0 megapixels), "
                                 "over fomm-nb's budget of 50 megapixels: scale it down first")


def test_an_image_at_the_budget_is_read(tmp_path):
    side = 2000  # 4 megapixels, well in budget; the edge itself is checked with MAX_PIXELS + 1 above
    write_image(tmp_path / "big.png", np.full((side, side, 3), 0.5, np.float32))
    assert read_image(tmp_path / "big.png").shape == (side, side, 3)


@pytest.mark.parametrize("text_chunks", [
    [inflating_text(b"zTXt", 200 * 2**20)],
    [inflating_text(b"iTXt", 200 * 2**20)],
    [inflating_text(b"zTXt", 900 * 2**10) for _ in range(100)],  # each under Pillow's 1 MB, together 90 MB
], ids=["zTXt", "iTXt", "many-small"])
def test_text_chunks_that_inflate_are_refused(tmp_path, recwarn, text_chunks):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(8, 8, *text_chunks))
    assert path.stat().st_size < 2 * 2**20
    assert "decompression bomb" in refused_quickly(path, recwarn, megabytes=150)


def test_a_bomb_is_refused_as_a_video_too(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(100_000, 100_000))
    with pytest.raises(MediaError, match="budget") as caught:
        open_video(path)
    assert_one_line(caught, path)


def encoded(suffix, size=(80, 64)):
    """A noisy picture in the format of ``suffix``, as bytes."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=FORMATS[suffix])
    return buffer.getvalue()


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.7, 0.98])
@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_a_truncated_image_of_every_format_is_one_line(tmp_path, recwarn, suffix, fraction):
    whole = encoded(suffix)
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(whole[:max(1, int(len(whole) * fraction))])
    refused_quickly(path, recwarn)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_cut_of_a_small_image_is_refused(tmp_path, suffix):
    """Not only the round fractions: every length, stepped, is an error, never a picture.

    The last 20 bytes are spared: they may hold checksums and a trailer only
    (in a PNG: the zlib and chunk checksums and the IEND chunk), whose loss
    loses no pixel.
    """
    whole = encoded(suffix, size=(24, 16))
    path = tmp_path / f"cut.{suffix}"
    for length in range(1, len(whole) - 20, max(1, len(whole) // 60)):
        path.write_bytes(whole[:length])
        with pytest.raises(MediaError):
            read_image(path)


def test_a_jpeg_too_wide_to_write_is_one_line_and_leaves_the_old_file(tmp_path):
    path = tmp_path / "strip.jpg"
    path.write_bytes(b"the user's picture")
    with pytest.raises(MediaError, match="strip.jpg: cannot write the image") as caught:
        write_image(path, np.zeros((2, 70_000, 3), np.uint8))
    assert_one_line(caught, path)
    assert path.read_bytes() == b"the user's picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strip.jpg"]
