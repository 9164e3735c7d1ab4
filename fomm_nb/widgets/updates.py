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
  not send is a message the kernel does not read. Under ``fomm-nb serve``
  the fastest interval is the student's share of the server instead
  (:func:`served_move_wait`): the server's queues of outgoing pictures are
  where a class falls behind first, and no kernel sees them.
* :class:`ArrivalLag` sees the moves the kernel has not read yet: the time a
  message waited in queues (the kernel's unread messages, a busy server)
  before the kernel took it in, from the send time in its Jupyter header. A
  kernel that falls behind there never sees two moves waiting for one update,
  so the pacer is told this lag too.

Example:
    >>> done = []
    >>> worker = LatestOnly()
    >>> for i in range(3):
    ...     worker.submit(lambda i=i: done.append(i), delay=0.05)
    >>> worker.wait(), done, worker.dropped
    (True, [2], 2)
"""

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

__all__ = ["FAST_WAIT_MS", "SLOW_WAIT_MS", "LatestOnly", "MovePacer", "ArrivalLag", "message_sent_at",
           "served_move_wait"]

_log = logging.getLogger(__name__)

FAST_WAIT_MS = 50  # the throttle while the kernel keeps up: about 20 moves a second, the mouse followed closely
SLOW_WAIT_MS = 180  # the most asked for under load: 5.5 moves a second (under fomm-nb serve: two steps above the share)
PACE_STEP = 1.5  # one step of the throttle, up or down (50, 75, 112, 168, 180 ms)
CALM_UPDATES = 5  # updates in a row that keep up with room before a step down
HEADROOM = 0.7  # "with room": the update took at most this fraction of the shorter interval
LAG_WINDOW = 30.0  # seconds of messages over which ArrivalLag finds the least delay (the clocks' offset and the trip)


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
    for its update (the worker will skip the older one), or that waited
    unread in front of the kernel for longer than the interval (its ``lag``),
    raises ``wait`` one step at once (x :data:`PACE_STEP`, at most ``slow``):
    a kernel flooded with moves, whose updates have become rare, reacts at
    the rate the moves come. An update that took longer than the interval
    raises it one step too. :data:`CALM_UPDATES` updates in a row that keep up
    with room (no such move, at most :data:`HEADROOM` of the next shorter interval) lower
    it one step (at least ``fast``). Updates that no move asked for (the first
    drawing, a slider) leave it as it is. An idle machine keeps ``fast``.

    Args:
        target: what sends the moves, with a ``wait`` attribute in ms (an
            ``ipyevents.Event`` with ``throttle_or_debounce="throttle"``); it starts at ``fast``.
        fast: the shortest interval, in ms (default: :func:`served_move_wait`).
        slow: the longest interval, in ms (at least two steps above ``fast``).

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

    def __init__(self, target: Any, fast: int | None = None, slow: int = SLOW_WAIT_MS) -> None:
        fast = served_move_wait() if fast is None else fast
        self.target, self.fast, self.slow = target, fast, max(slow, round(fast * PACE_STEP**2))
        self.target.wait = fast
        self._lock = threading.Lock()
        self._moves = 0  # moves taken in since the last update began
        self._behind = False  # a move since the last update began was skipped or waited unread too long
        self._calm = 0  # updates in a row that kept up with room

    def moved(self, lag: float | None = None) -> None:
        """Count one move the kernel took in (any thread); ``lag``: the seconds it waited unread (:class:`ArrivalLag`).

        One step up if it replaces a move not yet drawn, or if it waited unread
        for longer than the interval between two moves: the kernel is behind.
        """
        with self._lock:
            self._moves += 1
            if self._moves > 1 or (lag is not None and 1000 * lag > self.target.wait):
                self._calm = 0
                self._behind = True
                self._set(min(self.slow, round(self.target.wait * PACE_STEP)))

    @contextmanager
    def update(self) -> Iterator[None]:
        """Time the update in the block, then step the throttle (the moves since the last update are its input)."""
        with self._lock:
            moves, behind, self._moves, self._behind = self._moves, self._behind, 0, False
        began = time.perf_counter()
        yield
        if moves:
            self._step(behind, 1000 * (time.perf_counter() - began))

    def _step(self, behind, milliseconds):
        with self._lock:
            wait = self.target.wait
            shorter = max(self.fast, round(wait / PACE_STEP))
            if milliseconds > wait:
                self._calm, new = 0, min(self.slow, round(wait * PACE_STEP))
            elif behind:  # already raised as the moves came
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


def served_move_wait() -> int:
    """:data:`FAST_WAIT_MS`, or the longer interval ``fomm-nb serve`` gives each student of its class.

    ``fomm-nb serve --students N`` puts each student's share of the server's
    updates in the kernels' environment
    (:data:`fomm_nb.serve.plan.MOVE_WAIT_VARIABLE`, :func:`fomm_nb.serve.plan.move_interval_ms`).

    Example:
        >>> served_move_wait() >= FAST_WAIT_MS
        True
    """
    from ..serve.plan import MOVE_WAIT_VARIABLE

    try:
        share = int(os.environ.get(MOVE_WAIT_VARIABLE, "0"))
    except ValueError:
        share = 0
    return max(FAST_WAIT_MS, share)


class ArrivalLag:
    """The seconds each message waited in queues before the kernel read it, from the send times in their headers.

    ``now - sent`` for a message is the offset between the sender's clock and
    the kernel's, plus the trip, plus the time it waited in queues (a busy
    server, the kernel's unread messages). Its least value over the last
    ``window`` seconds stands for the offset and the trip, so a message's lag
    is its ``now - sent`` less that least value. A window (not the least value
    ever seen) forgets a clock that was set meanwhile.

    Example:
        >>> from datetime import timedelta
        >>> lag, sent = ArrivalLag(), datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> [round(lag.observe(sent + timedelta(seconds=s), now=5.0 + s + extra), 3)
        ...  for s, extra in ((0, 0.02), (1, 0.03), (2, 0.52), (3, 0.02))]  # 5 s of clock offset, a 0.5 s queue once
        [0.0, 0.01, 0.5, 0.0]
    """

    def __init__(self, window: float = LAG_WINDOW) -> None:
        self.window = window
        self._delays = deque()  # (arrival, now - sent), the delays increasing: the window's least delay first

    def observe(self, sent: datetime | None, now: float | None = None) -> float | None:
        """The lag in seconds of a message sent at ``sent`` (aware datetime) and read ``now`` (UNIX seconds; default: now).

        None when ``sent`` is None (a message without a date, or no kernel).
        """
        if sent is None:
            return None
        now = time.time() if now is None else now
        delay = now - sent.timestamp()
        while self._delays and self._delays[-1][1] >= delay:  # never the least again while this one is in the window
            self._delays.pop()
        self._delays.append((now, delay))
        while self._delays[0][0] < now - self.window:
            self._delays.popleft()
        return delay - self._delays[0][1]


def message_sent_at() -> datetime | None:
    """The send time (the Jupyter header's ``date``) of the message the kernel is handling; None outside a kernel.

    Example:
        >>> message_sent_at() is None  # not in a kernel
        True
    """
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        date = kernel.get_parent().get("header", {}).get("date") if kernel is not None else None
        if isinstance(date, str):
            date = datetime.fromisoformat(date.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    if not isinstance(date, datetime):
        return None
    return date if date.tzinfo is not None else date.replace(tzinfo=timezone.utc)

