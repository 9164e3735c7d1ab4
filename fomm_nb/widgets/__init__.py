"""Interactive apps for the notebooks: ipywidgets + ipyevents, one class per app.

* :class:`KeypointExplorer`: drag keypoints and edit Jacobians, watch masks, motions and the prediction.
* :class:`MotionSliders`: scrub a driving video; absolute/relative blend, movement scale, frozen keypoints.
* :class:`TryItApp`: pick a source, a driving video and a model, animate, watch and download.
* :class:`LiveApp`: the camera (or a clip) animates a picture live (an anywidget camera widget).
* :class:`Timeline`: one slider scrubs a clip and its motion track's curves together.

Each app is a widget: the last line of a cell shows it. Errors appear in the
app as one line (see :class:`~fomm_nb.widgets.common.MessageArea`).

Example:
    >>> from fomm_nb.widgets import TryItApp
    >>> TryItApp()  # doctest: +SKIP
"""

from .explorer import KeypointExplorer
from .live import LiveApp
from .motion_sliders import MotionSliders
from .timeline import Timeline
from .try_it import TryItApp

__all__ = ["KeypointExplorer", "LiveApp", "MotionSliders", "Timeline", "TryItApp"]
