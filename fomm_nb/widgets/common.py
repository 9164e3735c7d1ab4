"""Pieces the apps share: an error area, image panels fed from numpy, a debouncer, cached detections.

Example:
    >>> messages = MessageArea()
    >>> @messages.guard
    ... def handler():
    ...     raise InputError("frame 3: no face found")
    >>> handler()  # nothing raised: the message is in the area
    >>> messages.outputs[0]["text"]
    'frame 3: no face found\\n'
"""

import functools
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from ..animate import AnimationEngine
from ..errors import FommError, InputError
from ..media import tensor_to_frames
from ..model import FirstOrderModel
from ..motion import MotionOptions
from ..plotting import as_image
from ..types import Keypoints

__all__ = [
    "SYNC_BUDGET",
    "INTERACTIVE_THREADS",
    "MessageArea",
    "ImagePanel",
    "Debouncer",
    "DrivingFrames",
    "encode_image",
    "prepare_engine",
    "set_continuous",
    "Cost",
    "timed",
    "image_of",
    "run_inside",
]

_log = logging.getLogger(__name__)

JPEG_QUALITY = 92
# CPU seconds: an update cheaper than this follows sliders and the mouse continuously. CPU time, not the clock's:
# on a server shared by a class the clock time of one update grows with the other kernels' load, its CPU time does
# not, and a cheap model measured by the clock would flip to updating on release (and a drag to seconds of lag).
SYNC_BUDGET = 0.1
# Torch threads for the apps' updates. Small convolutions gain little from a
# second thread, and lose many times over when another process (a training
# job) keeps a core busy: a drag took 70 ms with one thread, 700 ms with two.
INTERACTIVE_THREADS = 1


class MessageArea(widgets.Output):
    """An Output that shows errors as one readable line, never as a traceback.

    :meth:`guard` wraps an event handler: a :class:`~fomm_nb.errors.FommError`
    shows its message, any other exception its type and message (the
    traceback goes to the ``fomm_nb`` logger at DEBUG level). It works from
    any thread: it appends to ``outputs`` directly.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_class("fomm-messages")

    def report(self, error: BaseException | str) -> None:
        """Show ``error`` (an exception or a text) in place of the previous message."""
        if isinstance(error, BaseException):
            _log.debug("error shown in the app", exc_info=error)
            text = str(error) if isinstance(error, FommError) else f"{type(error).__name__}: {error}"
        else:
            text = str(error)
        self.outputs = ({"output_type": "stream", "name": "stderr", "text": text + "\n"},)

    def clear(self) -> None:
        if self.outputs:
            self.outputs = ()

    def guard(self, handler: Callable) -> Callable:
        """``handler`` that reports its exceptions here instead of raising them."""

        @functools.wraps(handler)
        def guarded(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except Exception as error:  # every failure becomes a message in the app
                self.report(error)
                return None

        return guarded


def run_inside(output: widgets.Output, function: Callable, *args: Any) -> Any:
    """``function(*args)`` with its printing shown in ``output``; its exception raised, not swallowed.

    In a kernel, ``with output:`` swallows any exception raised in the block
    (ipywidgets' ``Output.__exit__`` hands it to the kernel's log and returns
    True), so code after the block runs as if nothing failed. This catches the
    exception inside the block and raises it again outside.

    Example:
        >>> run_inside(widgets.Output(), int, "12")
        12
        >>> run_inside(widgets.Output(), int, "twelve")
        Traceback (most recent call last):
        ...
        ValueError: invalid literal for int() with base 10: 'twelve'
    """
    failure = None
    with output:
        try:
            result = function(*args)
        except Exception as error:  # raised again below, where no Output can swallow it
            failure = error
    if failure is not None:
        raise failure
    return result


def encode_image(image: np.ndarray | torch.Tensor, size: int | None = None, smooth: bool = True) -> bytes:
    """An image (anything :func:`~fomm_nb.plotting.as_image` takes, or uint8) as JPEG bytes, resized to ``size``.

    JPEG at quality :data:`JPEG_QUALITY`: some 30 times faster to encode than
    PNG and smaller on the wire, which counts when a drag updates eight pictures.

    Example:
        >>> encode_image(np.zeros((8, 8, 3), np.uint8), size=16)[:2]
        b'\xff\xd8'
    """
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8):
        image = (as_image(image) * 255 + 0.5).astype(np.uint8)
    picture = Image.fromarray(image)
    if size is not None and picture.size != (size, size):
        picture = picture.resize((size, size), Image.BILINEAR if smooth else Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="jpeg", quality=JPEG_QUALITY)
    return buffer.getvalue()


class ImagePanel(widgets.VBox):
    """A captioned :class:`ipywidgets.Image` updated from numpy (its ``value`` bytes change, the widget stays).

    Example:
        >>> panel = ImagePanel("prediction", size=64)
        >>> panel.show(np.zeros((32, 32, 3), np.float32))
        >>> bytes(panel.image.value)[:2]
        b'\xff\xd8'
    """

    def __init__(self, caption: str, size: int = 128, smooth: bool = True, css_class: str | None = None) -> None:
        self.size = size
        self.smooth = smooth
        self.image = widgets.Image(format="jpeg", width=size, height=size)
        if css_class:
            self.image.add_class(css_class)
        title = widgets.HTML(f"<b>{caption}</b>", layout=widgets.Layout(width=f"{size}px", overflow="hidden"))
        title.add_class("fomm-caption")
        super().__init__([title, self.image])

    def show(self, image: np.ndarray | torch.Tensor) -> None:
        self.image.value = encode_image(image, self.size, self.smooth)


class Debouncer:
    """Run the latest submitted job in a worker thread once ``delay`` seconds pass without a newer one.

    Jobs run one at a time, in submission order; a job superseded before it
    starts is skipped. :meth:`flush` waits for the latest job (for tests
    and scripts). Jobs report their own errors.

    Example:
        >>> results = []
        >>> debouncer = Debouncer(0.01)
        >>> for i in range(3):
        ...     debouncer.submit(lambda i=i: results.append(i))
        >>> debouncer.flush(); results
        [2]
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._timer = None
        self._generation = 0

    def submit(self, job: Callable[[], Any]) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._generation += 1
            self._timer = threading.Timer(self.delay, self._run, args=(job, self._generation))
            self._timer.daemon = True
            self._timer.start()

    def is_current(self, generation: int) -> bool:
        return generation == self._generation

    def _run(self, job, generation):
        with self._running:
            if self.is_current(generation):
                job()

    def flush(self, timeout: float = 30.0) -> None:
        timer = self._timer
        if timer is not None:
            timer.join(timeout)


class DrivingFrames:
    """Driving frames ``(T, H, W, 3)`` at the model's size, with their keypoints detected once each, on demand.

    Example:
        >>> frames = DrivingFrames(engine, video)  # doctest: +SKIP
        >>> frames.keypoints(3)["value"].shape  # doctest: +SKIP
        torch.Size([1, 10, 2])
    """

    def __init__(self, engine: AnimationEngine, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 4 or len(frames) == 0:
            raise InputError(f"driving_frames must be a (T, H, W, 3) array with T >= 1, got shape {frames.shape}")
        self.engine = engine
        self.frames = frames
        self._detected = {}

    def __len__(self) -> int:
        return len(self.frames)

    def keypoints(self, t: int) -> Keypoints:
        """The detected keypoints of frame ``t``: ``value`` ``(1, K, 2)``, ``jacobian`` ``(1, K, 2, 2)``."""
        if t not in self._detected:
            self._detected[t] = self.engine.detect(self.frames[t])
        return self._detected[t]


def prepare_engine(
    model: FirstOrderModel,
    source: np.ndarray,
    options: MotionOptions | None = None,
    num_threads: int | None = INTERACTIVE_THREADS,
) -> AnimationEngine:
    """An :class:`~fomm_nb.animate.AnimationEngine` with ``source`` ``(H, W, 3)``, at the model's size, encoded."""
    source = np.asarray(source, dtype=np.float32)
    size = model.image_size
    if source.shape[:2] != (size, size):
        raise InputError(f"the source is {'x'.join(map(str, source.shape[:2]))} but the model works at {size}x{size}: "
                         f"resize the source and the driving frames with fomm_nb.media.fit_frame(frame, {size})")
    # The apps paint one frame per update: a batch of one, not DEFAULT_BATCH_SIZE.
    engine = AnimationEngine(model, batch_size=1, options=options, num_threads=num_threads)
    engine.set_source(source)
    return engine


class Cost(NamedTuple):
    """What one call cost: ``wall`` seconds on the clock, ``cpu`` seconds of CPU that its computation took.

    ``cpu`` is the calling thread's CPU time times torch's intra-op threads
    (they work beside it). Not the process's: in a kernel, the thread that
    reads the next messages runs meanwhile, and under load it is busy too.
    """

    wall: float
    cpu: float


def timed(function: Callable, *args: Any) -> tuple[Any, Cost]:
    """``(function(*args), its Cost)``.

    Example:
        >>> result, cost = timed(sum, range(1000))
        >>> result, cost.wall >= 0, cost.cpu >= 0
        (499500, True, True)
    """
    start, start_cpu = time.perf_counter(), time.thread_time()
    result = function(*args)
    return result, Cost(time.perf_counter() - start, (time.thread_time() - start_cpu) * torch.get_num_threads())


def set_continuous(controls: Iterable[widgets.ValueWidget], continuous: bool) -> None:
    """Make sliders report while dragged (fast updates) or only on release (slow ones)."""
    for control in controls:
        if control.continuous_update != continuous:
            control.continuous_update = continuous


def image_of(tensor: torch.Tensor) -> np.ndarray:
    """The first item of a ``(B, C, H, W)`` tensor as ``(H, W, C)`` float32 numpy."""
    return tensor_to_frames(tensor[0])

