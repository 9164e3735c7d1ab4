"""A fair queue for Generate: first come, first served, across every kernel on the machine.

A class served by Voila runs one kernel (one process) per student. When four
students press Generate together, four animations share two cores and each
takes about four times as long, with no word of why. The queue lets
``slots`` of them run at once (by default as many as the cores hold at the
kernel's torch threads) and keeps the others waiting in the order they
pressed, telling each its place.

The queue is a folder of *tickets*, one empty file per waiting or running job,
named by the time it was taken (nanoseconds), the process id and a random
part. A job runs when fewer than ``slots`` older tickets remain; tickets of
processes that no longer exist (a kernel that was killed) are removed by the
next job that looks. Nothing but file names is shared, so it works between
processes and between threads alike.

Example:
    >>> queue = GenerateQueue(tempfile.mkdtemp(), slots=1)
    >>> with queue.turn(on_wait=print):  # nobody ahead: runs at once, prints nothing
    ...     queue.waiting()
    1
    >>> queue.waiting()
    0
"""

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = ["QUEUE_DIR", "POLL_SECONDS", "default_slots", "GenerateQueue"]

#: Where the kernels of one machine meet: one folder for every user of this temporary directory.
QUEUE_DIR = Path(tempfile.gettempdir()) / "fomm-nb-generate-queue"
POLL_SECONDS = 0.2  # how often a waiting job looks at the queue again


def default_slots() -> int:
    """How many animations may run at once: the cores divided by this process's torch threads (at least 1).

    Example:
        >>> default_slots() >= 1
        True
    """
    return max(1, (os.cpu_count() or 1) // max(1, torch.get_num_threads()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class GenerateQueue:
    """First-come, first-served turns for ``slots`` jobs at a time, shared through the folder ``folder``."""

    def __init__(self, folder: str | os.PathLike = QUEUE_DIR, slots: int | None = None) -> None:
        self.folder = Path(folder)
        self.slots = slots or default_slots()

    def _tickets(self) -> list[Path]:
        """The live tickets, oldest first; those of ended processes are removed."""
        live = []
        for ticket in sorted(self.folder.glob("*.ticket")):
            if _alive(int(ticket.name.split("-")[1])):
                live.append(ticket)
            else:
                ticket.unlink(missing_ok=True)
        return live

    def waiting(self) -> int:
        """How many jobs hold a ticket now (running or waiting)."""
        return len(self._tickets()) if self.folder.is_dir() else 0

    @contextmanager
    def turn(self, on_wait: Callable[[int], object] = lambda position: None,
             poll: float = POLL_SECONDS) -> Iterator[None]:
        """Wait for a turn, then run the block; the ticket is returned however the block ends.

        ``on_wait(position)`` is called whenever the place in the queue
        changes while waiting: ``position`` 1 means "next".
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        ticket = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex}.ticket"
        ticket.touch()
        try:
            shown = None
            while True:
                tickets = self._tickets()
                ahead = tickets.index(ticket) if ticket in tickets else 0
                if ahead < self.slots:
                    break
                position = ahead - self.slots + 1
                if position != shown:
                    on_wait(position)
                    shown = position
                time.sleep(poll)
            yield
        finally:
            ticket.unlink(missing_ok=True)
