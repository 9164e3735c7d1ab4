"""A board of captioned pictures that change together, sent to the browser in one message.

On a page served to a class, every widget message goes through the kernel,
the one Voila process and the browser, and a drag in the keypoint explorer
redraws seven motion panels at each move. With one
:class:`~fomm_nb.widgets.panels.LivePanel` each, that was seven messages per
update; a :class:`PictureBoard` sends all of its pictures in one (a dict of
JPEG bytes, each with a count that says whether it changed), and the browser
decodes only the changed ones. Its browser side is ``static/board.js`` (an
`anywidget <https://anywidget.dev>`_ module, like the camera).

Example:
    >>> board = PictureBoard([Panel("masks", "masks", 64, smooth=False, legend="which motion")])
    >>> board.show({"masks": np.zeros((32, 32, 3), np.uint8)}), board.show({"masks": np.zeros((32, 32, 3), np.uint8)})
    (True, False)
    >>> board.versions, bytes(board.pictures["masks"])[:2]
    ({'masks': 1}, b'\\xff\\xd8')
"""

import time
from dataclasses import asdict, dataclass

import anywidget
import numpy as np
import traitlets

from .camera import STATIC
from .common import JPEG_QUALITY
from .panels import PictureEncoder

__all__ = ["Panel", "PictureBoard"]


@dataclass(frozen=True)
class Panel:
    """One picture of a board: its ``name``, the ``caption`` above it, its ``width`` on the page (px).

    ``smooth=False`` keeps enlarged pixels square; ``legend`` is HTML under it
    (:func:`~fomm_nb.widgets.panels.colour_bar` and friends); ``aside=True`` puts it
    to the right of the grid the others fill.
    """

    name: str
    caption: str
    width: int
    smooth: bool = True
    legend: str = ""
    aside: bool = False
    quality: int = JPEG_QUALITY


class PictureBoard(anywidget.AnyWidget):
    """Captioned pictures in a grid of ``columns`` columns (and those ``aside`` right of it), updated by :meth:`show`.

    Attributes: ``encoders`` (name -> :class:`~fomm_nb.widgets.panels.PictureEncoder`:
    the last picture of each panel, its count of encodes and CPU seconds) and
    ``messages`` (how many updates were sent to the browser).
    """

    _esm = STATIC / "board.js"
    _css = STATIC / "board.css"

    panels = traitlets.List().tag(sync=True)  # each Panel as a dict
    columns = traitlets.Int(3).tag(sync=True)
    pictures = traitlets.Dict().tag(sync=True)  # name -> JPEG bytes
    versions = traitlets.Dict().tag(sync=True)  # name -> how many pictures it has had (the browser redraws on change)

    def __init__(self, panels: list[Panel], columns: int = 3) -> None:
        super().__init__(panels=[asdict(panel) for panel in panels], columns=columns)
        self.encoders = {panel.name: PictureEncoder(panel.quality) for panel in panels}
        self.messages = 0

    def picture(self, name: str) -> np.ndarray | None:
        """The last picture of panel ``name``, ``(h, w, 3)`` uint8 (before JPEG), or None."""
        return self.encoders[name].last

    def show(self, pictures: dict) -> bool:
        """Show ``{name: image}`` (anything :func:`~fomm_nb.plotting.as_image` takes, or uint8) in one message.

        Pictures equal to what their panel shows are not encoded or redrawn.
        Returns whether anything was sent.
        """
        encoded = {name: self.encoders[name].encode(image) for name, image in pictures.items()}
        changed = {name: data for name, data in encoded.items() if data is not None}
        if not changed:
            return False
        began = time.thread_time()
        versions = {**self.versions}
        for name in changed:
            versions[name] = versions.get(name, 0) + 1
        with self.hold_sync():
            self.pictures = {**self.pictures, **changed}
            self.versions = versions
        self.messages += 1
        share = (time.thread_time() - began) / len(changed)
        for name in changed:
            self.encoders[name].seconds["send"] += share
        return True
