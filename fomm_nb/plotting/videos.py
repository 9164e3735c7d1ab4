"""Videos for notebooks and pages: encoded bytes, and inline HTML with captions.

Several videos given as a list are joined side by side, frame by frame, so
they play in step. In a notebook their labels are HTML captions above each
panel (sharp at any size); burning text into the frames is kept for files
that travel alone (:func:`video_bytes` with ``labels``, or
:func:`fomm_nb.media.side_by_side`).

Example:
    >>> driving, result = np.zeros((4, 32, 32, 3)), np.ones((4, 32, 32, 3))
    >>> html = video_html([driving, result], fps=10, labels=["driving", "result"], scale=2)
    >>> "<figcaption" in html.data and 'width="128"' in html.data
    True
"""

import base64
import tempfile
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np
import torch
from IPython.display import HTML

from ..errors import InputError
from ..media import side_by_side, tensor_to_frames, write_video
from .pictures import ArrayOrTensor, as_image

__all__ = ["video_bytes", "video_html", "caption_row"]

Videos = ArrayOrTensor | Sequence[ArrayOrTensor]  # one video (T, H, W, 3), or a list of them


def _videos(frames, labels):
    """The videos in ``frames`` (one video, or a list or tuple of them) as frames ``(T, H, W, 3)``; labels counted."""
    videos = list(frames) if isinstance(frames, (list, tuple)) else [frames]
    if labels is not None and len(labels) != len(videos):
        raise InputError(f"{len(labels)} labels for {len(videos)} videos")
    return [tensor_to_frames(video) if torch.is_tensor(video) else video for video in videos]


def _row(videos, labels=None):
    """The videos joined side by side frame by frame, so they play in step, and each panel's width in pixels.

    ``labels`` are burned into a strip above the panels (:func:`fomm_nb.media.side_by_side`).
    """
    sizes = [np.shape(video[0])[:2] for video in videos]
    height = max(h for h, _ in sizes)
    widths = [max(1, round(w * height / h)) for h, w in sizes]
    if len(videos) == 1 and labels is None:
        return [as_image(frame) for frame in videos[0]], widths
    length = min(len(video) for video in videos)
    return [side_by_side(*(video[t] for video in videos), labels=labels, height=height) for t in range(length)], widths


def _encode(frames, fps, format):
    if format not in ("mp4", "gif"):
        raise InputError(f"video format must be 'mp4' or 'gif', got {format!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"video.{format}"
        write_video(path, frames, fps=fps)
        return path.read_bytes()


def video_bytes(frames: Videos, fps: float = 25.0, format: str = "mp4", labels: Sequence[str] | None = None) -> bytes:
    """Encode frames into an ``mp4`` (H.264) or ``gif`` file's bytes.

    ``frames`` is one video ``(T, H, W, 3)`` (float in [0, 1] or uint8) or a
    list of videos, put side by side so they play in step. ``labels`` (one
    per video) are burned into a strip above the frames, for a file that is
    shared on its own; in a notebook, :func:`video_html` writes them as captions.

    Example:
        >>> data = video_bytes(np.zeros((4, 32, 32, 3), np.float32), fps=10, format="gif")
        >>> data[:3]
        b'GIF'
    """
    return _encode(_row(_videos(frames, labels), labels)[0], fps, format)


def caption_row(labels: Sequence[str], widths: Sequence[int]) -> str:
    """An HTML ``<figcaption>`` row: one centred label per panel, each cell as wide (in proportion) as its panel.

    Put it as the first child of a ``<figure>`` that also holds the video
    (or image) whose side-by-side panels are ``widths`` pixels wide; the
    cells stretch with the figure, so the labels stay over their panels at
    any displayed width. Labels are HTML-escaped.

    Example:
        >>> row = caption_row(["source", "result"], [64, 128])
        >>> "grid-template-columns:64fr 128fr" in row
        True
        >>> row.endswith("<span>source</span><span>result</span></figcaption>")
        True
    """
    if len(labels) != len(widths):
        raise InputError(f"{len(labels)} labels for {len(widths)} panels")
    columns = " ".join(f"{width}fr" for width in widths)
    cells = "".join(f"<span>{escape(str(label))}</span>" for label in labels)
    style = f"display:grid;grid-template-columns:{columns};text-align:center;font:600 13px/1.6 sans-serif"
    return f'<figcaption style="{style}">{cells}</figcaption>'


def video_html(
    frames: Videos,
    fps: float = 25.0,
    format: str = "mp4",
    labels: Sequence[str] | None = None,
    width: int | None = None,
    scale: int = 1,
) -> HTML:
    """An inline video for a notebook: :class:`IPython.display.HTML` with the file base64-encoded.

    ``mp4`` gives a looping ``<video>`` with controls; ``gif`` an animated
    ``<img>`` (shown where video tags are not, e.g. in some notebook viewers).
    Pass a list of videos ``(T, H_i, W_i, 3)`` to play them in step, side by
    side at the tallest one's height; ``labels`` (one per video) are written
    as HTML captions above their panels, not into the frames.

    The video is shown ``width`` pixels wide, or at ``scale`` times its
    natural size; enlarged pixels stay square (``image-rendering: pixelated``),
    so a 64-pixel model's frames look sharp rather than blurred.

    Example:
        >>> html = video_html([np.zeros((4, 32, 32, 3))] * 2, fps=10, labels=["driving", "result"])
        >>> html.data.startswith("<figure") and "<span>driving</span><span>result</span>" in html.data
        True
        >>> video_html(np.zeros((4, 32, 32, 3)), fps=10, format="gif").data.startswith("<img")
        True
    """
    row, widths = _row(_videos(frames, labels))
    data = base64.b64encode(_encode(row, fps, format)).decode("ascii")
    natural_height, natural_width = np.shape(row[0])[:2]
    shown_width = int(width) if width else natural_width * int(scale)
    shown_height = round(natural_height * shown_width / natural_width)
    size = f'width="{shown_width}" height="{shown_height}"'
    style = ' style="image-rendering:pixelated"' if shown_width > natural_width else ""
    if format == "gif":
        player = f'<img src="data:image/gif;base64,{data}" {size}{style}/>'
    else:
        source = f"data:video/mp4;base64,{data}"
        player = f'<video controls autoplay loop muted playsinline {size}{style} src="{source}"></video>'
    if labels is None:
        return HTML(player)
    figure_style = f"display:inline-block;margin:0;width:{shown_width}px"
    return HTML(f'<figure style="{figure_style}">{caption_row(labels, widths)}{player}</figure>')
