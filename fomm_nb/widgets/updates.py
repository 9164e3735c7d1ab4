"""One worker thread per app that draws only the latest request: mouse moves coalesced under load.

A browser sends a mouse move every few tens of milliseconds. When a server
is busy (a class of students on two cores), an update can take longer than
that, and a kernel that handled every move in turn would fall further and
further behind the mouse. :class:`LatestOnly` runs jobs in one long-lived
thread; a job submitted while another waits replaces it (a stale move is
dropped, and counted), so the app always draws where the mouse is now.
A job may be given a delay (e.g. a slow prediction once the mouse rests):
a newer submission restarts it.

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
from collections.abc import Callable
from typing import Any

__all__ = ["LatestOnly"]

_log = logging.getLogger(__name__)


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
