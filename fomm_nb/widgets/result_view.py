"""The try-it app's result: source | driving | result, labelled, at a whole multiple of its size, with downloads.

The side-by-side video plays with an HTML caption row above it (labels are
never burned into the frames). It is shown at its natural width times the
largest whole number that keeps it within :data:`MAX_SHOWN_WIDTH` (or
shrunk to that width when it is wider), with square pixels, so a 64-pixel
model's frames stay sharp. The downloads are buttons: links with the
``download`` attribute, styled as buttons, that save the file.

Example:
    >>> shown_width(768), shown_width(200), shown_width(1536)
    (768, 800, 960)
"""

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets

from ..plotting.videos import caption_row

__all__ = ["MAX_SHOWN_WIDTH", "shown_width", "download_button", "ResultView"]

MAX_SHOWN_WIDTH = 960  # pixels: the result fits beside nothing, under the controls, in a 1280-pixel window

BUTTON_STYLE = ("display:inline-block;margin:4px 8px 0 0;padding:4px 12px;border-radius:3px;background:#2196f3;"
                "color:white;font:13px sans-serif;text-decoration:none")


def shown_width(natural: int, limit: int = MAX_SHOWN_WIDTH) -> int:
    """The width to show a ``natural``-pixel-wide video at: the largest whole multiple within ``limit``, else ``limit``."""
    return natural * (limit // natural) if natural <= limit else limit


def download_button(path: Path, label: str, mime: str = "video/mp4") -> str:
    """An HTML link, styled as a button, that saves the file at ``path`` (embedded as a data URL) under its name."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<a class="fomm-download" role="button" download="{html.escape(Path(path).name)}" '
            f'href="data:{mime};base64,{data}" style="{BUTTON_STYLE}">&#x2B07; {html.escape(label)}</a>')


class ResultView(widgets.VBox):
    """Caption row, video and download buttons; hidden until :meth:`show`."""

    def __init__(self) -> None:
        self.caption = widgets.HTML()
        self.video = widgets.Video(format="mp4", autoplay=True, loop=True, controls=True)
        self.video.add_class("fomm-tryit-result")
        self.download = widgets.HTML()
        super().__init__([self.caption, self.video, self.download], layout=widgets.Layout(display="none"))
        self.add_class("fomm-tryit-view")

    def hide(self) -> None:
        self.layout.display = self.video.layout.display = "none"
        self.download.value = ""

    def show(self, side_by_side: Path, result: Path, size: tuple[int, int], proportions: Sequence[float]) -> None:
        """Play ``side_by_side`` (``size`` = its ``(height, width)``; panels ``proportions`` of its width)."""
        height, width = size
        shown = shown_width(width)
        self.video.value = Path(side_by_side).read_bytes()
        self.video.width, self.video.height = str(shown), str(round(height * shown / width))
        widths = [round(100 * part) for part in proportions]
        self.caption.value = (f'<figure style="margin:0;width:{shown}px">'
                              f'{caption_row(["source", "driving", "result"], widths)}</figure>')
        self.download.value = (download_button(result, "download the result") +
                               download_button(side_by_side, "download source | driving | result"))
        self.layout.display = self.video.layout.display = None
