"""The camera widget: the browser's camera (or a clip) in, frames to the kernel, animated frames back.

An `anywidget <https://anywidget.dev>`_ widget: its browser side,
``static/camera.js`` and ``static/camera.css``, ships inside this package (no
build step, no JupyterLab extension), and it renders in JupyterLab,
Notebook 7, Voila, VS Code and Colab (after
``google.colab.output.enable_custom_widget_manager()``). The messages it
exchanges with the kernel, and the back-pressure, are those of
:mod:`~fomm_nb.widgets.live_session`.

The page reports what happened to the camera in :attr:`CameraWidget.status`:
``"starting"``, ``"camera"`` (frames flow), ``"clip"`` (the fallback clip
plays), ``"denied"`` (permission refused), ``"no-camera"``, ``"insecure"``
(the page is not a secure context: not https, not localhost) or ``"error"``;
:attr:`CameraWidget.status_message` holds the line the page shows.

Example:
    >>> camera = CameraWidget(size=64)
    >>> camera.on_frame(lambda header, buffers: print(header["id"], len(buffers)))
    >>> camera._take_message({"type": "frame", "id": 3, "t": 0.0}, [b"jpeg bytes"])
    3 1
"""

from collections.abc import Callable
from pathlib import Path

import anywidget
import traitlets

__all__ = ["STATIC", "CameraWidget"]

STATIC = Path(__file__).with_name("static")
JPEG_QUALITY = 0.8  # of the frames the page sends: small on the wire, and the model sees 64 or 256 pixels


class CameraWidget(anywidget.AnyWidget):
    """The camera preview and the animated picture side by side, with the fps/latency readout.

    Attributes (synchronised with the page):
        size: the side of the square frames sent to the kernel (the model's ``image_size``).
        playing: ``"camera"`` or ``"clip"`` (the fallback: :attr:`clip` played through the same path).
        clip: the fallback clip, mp4 bytes.
        restarts: add one to ask for the camera (or the clip) again, after a refusal.
        show_keypoints: draw the camera frame's keypoints over the preview.
        quality: JPEG quality of the frames sent, in (0, 1].
        status, status_message: set by the page (see the module's docstring).
        readout: ``"23.5 fps · 41 ms"``, set by the page about twice a second.
    """

    _esm = STATIC / "camera.js"
    _css = STATIC / "camera.css"

    size = traitlets.Int(64).tag(sync=True)
    playing = traitlets.Unicode("camera").tag(sync=True)
    clip = traitlets.Bytes(b"").tag(sync=True)
    restarts = traitlets.Int(0).tag(sync=True)
    show_keypoints = traitlets.Bool(True).tag(sync=True)
    quality = traitlets.Float(JPEG_QUALITY).tag(sync=True)
    status = traitlets.Unicode("starting").tag(sync=True)
    status_message = traitlets.Unicode("").tag(sync=True)
    readout = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._frame_handlers = []
        self.on_msg(lambda _widget, content, buffers: self._take_message(content, buffers))

    def on_frame(self, handler: Callable[[dict, list], object]) -> None:
        """Call ``handler(header, buffers)`` for each frame message from the page."""
        self._frame_handlers.append(handler)

    def _take_message(self, content: dict, buffers: list) -> None:
        if isinstance(content, dict) and content.get("type") == "frame":
            for handler in self._frame_handlers:
                handler(content, list(buffers or []))

    def answer(self, header: dict, buffers: list) -> None:
        """Send an answer (``result``, ``dropped`` or ``error``) to the page."""
        self.send(header, buffers)

    def play_clip(self) -> None:
        """Play :attr:`clip` instead of the camera."""
        self.playing = "clip"

    def use_camera(self) -> None:
        """Ask for the camera (again)."""
        self.playing = "camera"
        self.restarts += 1
