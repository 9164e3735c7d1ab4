"""Live picture panels for the interactive apps: sent at their own size, only when they change, with legends.

A drag in the keypoint explorer updates seven pictures many times a second,
and on a served page every picture is a message through the kernel, the
server and the browser. :class:`LivePanel` keeps that traffic small: it
sends the picture at the model's resolution (the browser enlarges it to the
panel's size, pixelated or smooth), and sends nothing when the picture did
not change. The legends are HTML (CSS gradients), drawn once by the browser.

Example:
    >>> panel = LivePanel("masks", size=64, legend=swatches([(1, 0, 0)], ["keypoint 0"]))
    >>> panel.show(np.zeros((32, 32, 3), np.float32)), panel.show(np.zeros((32, 32, 3), np.float32))
    (True, False)
    >>> panel.encodes, panel.image.width
    (1, '64')
"""

import html
import io
import time
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib import colormaps
from PIL import Image

from ..media.images import as_bytes
from ..plotting import as_image
from .common import JPEG_QUALITY, ImagePanel

__all__ = ["LivePanel", "PAGE_STYLE", "PictureEncoder", "colour_bar", "hex_colour", "legend_widget", "swatches",
           "wheel_legend"]

PIXELATED = "fomm-pixelated"
#: CSS the apps put on their page once: enlarged pictures of class ``fomm-pixelated`` keep square pixels.
PAGE_STYLE = (f"<style>.{PIXELATED} {{image-rendering: pixelated;}} "
              ".fomm-legend {font-size: 11px; line-height: 1.3; color: #444;}</style>")


def hex_colour(colour: Sequence[float]) -> str:
    """An RGB colour in [0, 1] as ``#rrggbb``.

    Example:
        >>> hex_colour((1.0, 0.5, 0.0))
        '#ff8000'
    """
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in colour[:3])


def legend_widget(legend: str, width: int | None = None) -> widgets.HTML:
    """A legend's HTML (from :func:`colour_bar`, :func:`swatches`, :func:`wheel_legend`) as a widget ``width`` px wide."""
    layout = widgets.Layout(width=f"{width}px") if width else widgets.Layout()
    widget = widgets.HTML(f'<div class="fomm-legend">{legend}</div>', layout=layout)
    widget.add_class("fomm-legend")
    return widget


def colour_bar(cmap: str, low: str, high: str, note: str = "", stops: int = 9) -> str:
    """A legend (HTML): a horizontal bar of matplotlib colour map ``cmap`` with its two ends labelled (``low``, ``high``).

    Example:
        >>> "linear-gradient" in colour_bar("magma", "0", "0.5")
        True
    """
    colours = ", ".join(hex_colour(c) for c in colormaps[cmap](np.linspace(0, 1, stops)))
    bar = f'<div style="height:8px;background:linear-gradient(to right, {colours});border:1px solid #999"></div>'
    ends = (f'<div style="display:flex;justify-content:space-between"><span>{html.escape(low)}</span>'
            f'<span>{html.escape(high)}</span></div>')
    return bar + ends + (f"<div>{note}</div>" if note else "")


def swatches(colours: Sequence[Sequence[float]], labels: Sequence[str], note: str = "") -> str:
    """A legend (HTML): coloured dots with labels, e.g. one per keypoint: ``● 0 ● 1 …``.

    Example:
        >>> "#ff0000" in swatches([(1, 0, 0)], ["0"])
        True
    """
    items = " ".join(f'<span style="white-space:nowrap"><span style="color:{hex_colour(c)}">●</span>'
                     f"{html.escape(label)}</span>" for c, label in zip(colours, labels))
    return items + (f"<div>{note}</div>" if note else "")


def wheel_legend(note: str) -> str:
    """A legend (HTML): a small colour wheel (the hue of each direction, as :func:`~fomm_nb.plotting.flow_image` draws it) and a note.

    Example:
        >>> "conic-gradient" in wheel_legend("white: still")
        True
    """
    hues = ", ".join(f"hsl({degrees}, 100%, 50%)" for degrees in range(0, 361, 60))
    # y points down on screen, so the hue grows clockwise from the right, as conic-gradient(from 90deg) does
    wheel = (f'<span style="display:inline-block;width:22px;height:22px;border-radius:50%;vertical-align:middle;'
             f'background:radial-gradient(circle, white 0%, rgba(255,255,255,0) 70%), '
             f'conic-gradient(from 90deg, {hues})"></span>')
    return f"{wheel} {note}"


class PictureEncoder:
    """JPEG bytes of each new picture, ``None`` for one equal to the last; with the CPU it cost.

    ``encodes`` counts the pictures encoded; ``seconds["encode"]`` adds up the
    CPU time of comparing and encoding (the caller adds ``"send"``, the time of
    handing the bytes to a widget).

    Example:
        >>> encoder = PictureEncoder()
        >>> encoder.encode(np.zeros((8, 8, 3), np.uint8))[:2], encoder.encode(np.zeros((8, 8, 3), np.uint8))
        (b'\\xff\\xd8', None)
    """

    def __init__(self, quality: int = JPEG_QUALITY) -> None:
        self.quality = quality
        self.encodes = 0
        self.seconds = {"encode": 0.0, "send": 0.0}
        self.last = None  # the last picture encoded, (h, w, 3) uint8

    def encode(self, image) -> bytes | None:
        """``image`` (anything :func:`~fomm_nb.plotting.as_image` takes, or uint8) as JPEG, or None if unchanged."""
        began = time.thread_time()
        picture = as_bytes(image if isinstance(image, np.ndarray) and image.dtype == np.uint8 else as_image(image))
        if self.last is not None and picture.shape == self.last.shape and np.array_equal(picture, self.last):
            self.seconds["encode"] += time.thread_time() - began
            return None
        self.last = picture
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="jpeg", quality=self.quality)
        self.encodes += 1
        self.seconds["encode"] += time.thread_time() - began
        return buffer.getvalue()


class LivePanel(ImagePanel):
    """An :class:`~fomm_nb.widgets.common.ImagePanel` that sends pictures at their own size, and only new ones.

    The picture is shown ``size`` pixels wide (its height follows its
    shape); ``smooth=False`` keeps enlarged pixels square; ``quality`` is the
    JPEG quality (a large picture redrawn at every move can take less);
    ``legend`` is HTML shown under it. ``show`` returns whether it sent a picture;
    ``encodes`` counts them, and ``seconds`` adds up the CPU time of encoding
    (``"encode"``) and of handing the bytes to the widget (``"send"``: the message to the browser).
    """

    def __init__(self, caption: str, size: int = 128, smooth: bool = True, css_class: str | None = None,
                 legend: str = "", quality: int = JPEG_QUALITY) -> None:
        super().__init__(caption, size, smooth, css_class)
        self.encoder = PictureEncoder(quality)
        self.image.height = ""  # the width is set; the picture's own shape decides the height
        if not smooth:
            self.image.add_class(PIXELATED)
        if legend:
            self.children = (*self.children, legend_widget(legend, size))

    @property
    def picture(self) -> np.ndarray | None:
        """The last picture sent, ``(h, w, 3)`` uint8 (before JPEG), or None."""
        return self.encoder.last

    @property
    def encodes(self) -> int:
        return self.encoder.encodes

    @property
    def seconds(self) -> dict[str, float]:
        return self.encoder.seconds

    def show(self, image) -> bool:
        """Show ``image`` (anything :func:`~fomm_nb.plotting.as_image` takes, or uint8); False if it is unchanged."""
        data = self.encoder.encode(image)
        if data is None:
            return False
        began = time.thread_time()
        self.image.value = data
        self.seconds["send"] += time.thread_time() - began
        return True
