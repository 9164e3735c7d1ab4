"""Mouse moves coalesced under load, in the kernel and in the browser.

A browser sends a mouse move every few tens of milliseconds. When a server
is busy (a class of students on two cores), an update can take longer than
that, and a kernel that handled every move in turn would fall further and
further behind the mouse. Two pieces keep it with the mouse:

* :class:`LatestOnly` runs jobs in one long-lived thread; a job submitted
  while another waits replaces it (a stale move is dropped, and counted), so
  the app always draws where the mouse is now. A job may be given a delay
  (e.g. a slow prediction once the mouse rests): a newer submission restarts it.
* :class:`MovePacer` asks the browser for fewer moves when the kernel falls
  behind: it raises the throttle of an ipyevents ``Event`` (its ``wait``)
  step by step up to :data:`SLOW_WAIT_MS`, and lowers it back towards
  :data:`FAST_WAIT_MS` once the updates keep up. Each move the browser does
  not send is a message the kernel does not read.

Example:
    >>> done = []
    >>> worker = LatestOnly()
    >>> for i in range(3):
    ...     worker.submit(lambda i=i: done.append(i), delay=0.05)
    >>> worker.wait(), done, worker.dropped
    (True, [2], 2)
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["FAST_WAIT_MS", "SLOW_WAIT_MS", "LatestOnly", "MovePacer"]

_log = logging.getLogger(__name__)

FAST_WAIT_MS = 50  # the throttle while the kernel keeps up: about 20 moves a second, the mouse followed closely
SLOW_WAIT_MS = 180  # the most asked for under load: 5.5 moves a second, still above 5 updates a second
PACE_STEP = 1.5  # one step of the throttle, up or down (50, 75, 112, 168, 180 ms)
CALM_UPDATES = 5  # updates in a row that keep up with room before a step down
HEADROOM = 0.7  # "with room": the update took at most this fraction of the shorter interval


class LatestOnly:
    """Run the latest submitted job in one worker thread (started on first use, a daemon).

    Attributes:
        dropped: how many jobs were replaced by a newer one before they ran.
        ran: how many jobs ran.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._job = None  # (job, due time) waiting to run
        self._busy = False
        self._thread = None
        self.dropped = 0
        self.ran = 0

    def submit(self, job: Callable[[], Any], delay: float = 0.0) -> None:
        """Run ``job()`` in the worker ``delay`` seconds from now, unless a newer job replaces it first."""
        with self._changed:
            if self._job is not None:
                self.dropped += 1
            self._job = (job, time.monotonic() + delay)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="fomm-nb app updates", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _loop(self):
        while True:
            with self._changed:
                while self._job is None:
                    self._changed.wait()
                job, due = self._job
                wait = due - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)  # a newer job may replace this one meanwhile
                    continue
                self._job, self._busy = None, True
            try:
                job()  # jobs show their own errors (e.g. MessageArea.guard); the worker must outlive any
            except Exception:  # noqa: BLE001 (one failed update must not stop the app's later ones)
                _log.exception("an app update failed")
            finally:
                with self._changed:
                    self._busy = False
                    self.ran += 1
                    self._changed.notify_all()

    @property
    def idle(self) -> bool:
        """Nothing waiting and nothing running."""
        with self._changed:
            return self._job is None and not self._busy

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job has run or been dropped (for scripts and tests); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._job is None and not self._busy, timeout)


class MovePacer:
    """Adapt a browser-side throttle (ipyevents' ``wait``, in ms) to how well the kernel keeps up with the moves.

    Call :meth:`moved` for each move the kernel takes in and wrap each update
    in :meth:`update`. A move that arrives while an earlier one still waits
    for its update (the worker will skip the older one) raises ``wait`` one
    step at once (x :data:`PACE_STEP`, at most ``slow``): a kernel flooded
    with moves, whose updates have become rare, reacts at the rate the moves
    come. An update that took longer than the interval raises it one step too. :data:`CALM_UPDATES` updates in a row that keep up with room (no
    skipped move, at most :data:`HEADROOM` of the next shorter interval) lower
    it one step (at least ``fast``). Updates that no move asked for (the first
    drawing, a slider) leave it as it is. An idle machine keeps ``fast``.

    Args:
        target: what sends the moves, with a ``wait`` attribute in ms (an
            ``ipyevents.Event`` with ``throttle_or_debounce="throttle"``); it starts at ``fast``.
        fast: the shortest interval, in ms.
        slow: the longest interval, in ms.

    Example:
        >>> from types import SimpleNamespace
        >>> moves = SimpleNamespace(wait=0)
        >>> pacer = MovePacer(moves)
        >>> for _ in range(3):  # two moves before each update: the kernel falls behind
        ...     pacer.moved(); pacer.moved()
        ...     with pacer.update():
        ...         pass
        >>> moves.wait
        168
    """

    def __init__(self, target: Any, fast: int = FAST_WAIT_MS, slow: int = SLOW_WAIT_MS) -> None:
        self.target, self.fast, self.slow = target, fast, slow
        self.target.wait = fast
        self._lock = threading.Lock()
        self._moves = 0  # moves taken in since the last update began
        self._calm = 0  # updates in a row that kept up with room

    def moved(self) -> None:
        """Count one move the kernel took in (any thread); one step up if it replaces a move not yet drawn."""
        with self._lock:
            self._moves += 1
            if self._moves > 1:
                self._calm = 0
                self._set(min(self.slow, round(self.target.wait * PACE_STEP)))

    @contextmanager
    def update(self) -> Iterator[None]:
        """Time the update in the block, then step the throttle (the moves since the last update are its input)."""
        with self._lock:
            moves, self._moves = self._moves, 0
        began = time.perf_counter()
        yield
        if moves:
            self._step(moves - 1, 1000 * (time.perf_counter() - began))

    def _step(self, skipped, milliseconds):
        with self._lock:
            wait = self.target.wait
            shorter = max(self.fast, round(wait / PACE_STEP))
            if milliseconds > wait:
                self._calm, new = 0, min(self.slow, round(wait * PACE_STEP))
            elif skipped:  # already raised as the moves came
                self._calm, new = 0, wait
            else:
                self._calm = self._calm + 1 if milliseconds <= HEADROOM * shorter else 0
                new = shorter if self._calm >= CALM_UPDATES else wait
            if new != wait:
                self._calm = 0
                self._set(new)

    def _set(self, wait):
        if wait != self.target.wait:
            self.target.wait = wait  # one widget message: the browser re-throttles its moves
