"""One app per page, for students: the app itself, or a clear message with a Retry button.

The pages in ``notebooks/apps/`` (served by ``fomm-nb serve``) each run one
line, ``show_app(explorer_app)`` for instance. :func:`show_app` builds the
app inside a box; when building it fails (a model that cannot be loaded, a
kernel short of memory) the box shows what went wrong in one line and a
**Retry** button instead, never a silent page or a traceback. A page whose
kernel never shows the app at all (a server too busy to run the notebook) is
caught in the browser by the ``fomm-app`` page template of
:mod:`fomm_nb.serve`, which looks for the box's ``fomm-app`` class.

The factories (:func:`try_it_app`, :func:`explorer_app`, :func:`sliders_app`)
build each app as notebooks 01, 03 and 04 do, on the bundled model.

Example:
    >>> page = show_app(lambda: widgets.Label("hello"))
    >>> page.status
    'ready'
    >>> def broken():
    ...     raise OSError("out of memory")
    >>> page = show_app(broken)
    >>> page.status, page.message.value
    ('failed', 'The app did not start: OSError: out of memory')
"""

import html
import logging
from collections.abc import Callable

import ipywidgets as widgets

from ..errors import FommError

__all__ = ["AppPage", "show_app", "try_it_app", "explorer_app", "sliders_app"]

_log = logging.getLogger(__name__)

APP_CLASS = "fomm-app"  # on every page's box: the page template waits for it
FAILED_CLASS = "fomm-app-failed"  # on the box while it shows a failure
EXPLORER_FRAMES = 48  # the driving clip of notebook 03
SLIDERS_FRAMES = 64  # the driving clip of notebook 04


class AppPage(widgets.VBox):
    """A box holding the app that ``factory()`` builds, or a one-line failure and a Retry button.

    Attributes:
        status: ``"ready"`` or ``"failed"``.
        message: the :class:`ipywidgets.HTML` line shown on failure.
        app: the app widget, or None while failed.
    """

    def __init__(self, factory: Callable[[], widgets.Widget]):
        super().__init__()
        self.add_class(APP_CLASS)
        self.factory = factory
        self.app = None
        self.status = "failed"
        self.message = widgets.HTML()
        self.retry = widgets.Button(description="Retry", icon="refresh", button_style="warning")
        self.retry.on_click(lambda _button: self.start())
        self.start()

    def start(self) -> None:
        """Build the app (again); show it, or show why it failed."""
        self.retry.disabled = True
        try:
            app = self.factory()
        except Exception as error:  # any failure becomes a message on the page
            _log.debug("the app did not start", exc_info=error)
            reason = str(error) if isinstance(error, FommError) else f"{type(error).__name__}: {error}"
            self._fail(reason)
            return
        self.app, self.status = app, "ready"
        self.remove_class(FAILED_CLASS)
        self.children = [app]

    def _fail(self, reason: str) -> None:
        self.app, self.status = None, "failed"
        self.add_class(FAILED_CLASS)
        self.message.value = f"The app did not start: {html.escape(reason)}"
        hint = widgets.HTML("Press Retry; if it fails again, tell your teacher what the line above says.")
        self.retry.disabled = False
        self.children = [self.message, widgets.HBox([self.retry, hint])]


def show_app(factory: Callable[[], widgets.Widget]) -> AppPage:
    """The page's only output: ``factory()``'s app in an :class:`AppPage` (the last line of a cell shows it)."""
    return AppPage(factory)


def try_it_app() -> widgets.Widget:
    """The try-it app (:class:`~fomm_nb.widgets.TryItApp`) with its default gallery and models."""
    from .try_it import TryItApp

    return TryItApp()


def _demo_clips(driving_frames: int):
    """The bundled model, a source face (seed 3) and a driving clip (seed 7), as in notebooks 03 and 04."""
    from ..data import make_video
    from ..hub import get_model

    model = get_model("demo")
    driving = make_video(seed=7, num_frames=driving_frames, size=model.image_size)
    return model, driving


def explorer_app() -> widgets.Widget:
    """The keypoint explorer (:class:`~fomm_nb.widgets.KeypointExplorer`) on the bundled model, as notebook 03."""
    from ..data import make_video
    from .explorer import KeypointExplorer

    model, driving = _demo_clips(EXPLORER_FRAMES)
    source = make_video(seed=3, num_frames=1, size=model.image_size).frames[0]
    return KeypointExplorer(model, source, driving.frames)


def sliders_app() -> widgets.Widget:
    """The motion sliders (:class:`~fomm_nb.widgets.MotionSliders`) with a ground truth, as notebook 04."""
    from ..data import make_video
    from .motion_sliders import MotionSliders

    model, driving = _demo_clips(SLIDERS_FRAMES)
    actor = make_video(seed=3, num_frames=1, size=model.image_size).identity
    truth = driving.render_as(actor)  # (T, H, W, 3): face A in face B's poses
    return MotionSliders(model, truth[0], driving.frames, ground_truth=truth)
