"""Process-wide settings of the CPU runtime that the engine uses: torch's threads and glibc's allocator.

Example:
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
"""

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads", "release_large_blocks", "ResidentGrowth", "MMAP_THRESHOLD"]

#: Freed blocks of at least this many bytes go back to the system at once (glibc's ``M_MMAP_THRESHOLD``), set
#: when the first CPU engine is made. glibc otherwise raises the threshold to the largest block freed (up to
#: 32 MB), so activations and workspaces stay cached in each worker thread's arena after they are freed: at
#: vox-256, batch 4, 2 workers, the peak for 32 frames fell from +340..+377 MB to +242..+256 MB (the published
#: loop: +212 MB); in one process, rounds alternating 4 MB and 32 MB took 0.94x and 1.03x the time in two runs
#: (load 6.5, 2-core Xeon): no cost above the noise. 128 KB (glibc's default start) cost 1.28x: page faults.
#: ``MALLOC_MMAP_THRESHOLD_`` in the environment wins.
MMAP_THRESHOLD = 4 * 2**20
_allocator_set = False


def release_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Have glibc return freed blocks of ``threshold`` bytes or more to the system; whether it was set.

    Once per process, on glibc only, and not when ``MALLOC_MMAP_THRESHOLD_`` is set by the user.

    Example:
        >>> isinstance(release_large_blocks(), bool)
        True
    """
    global _allocator_set
    if _allocator_set or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    _allocator_set = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, threshold))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        return False


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the body with ``count`` intra-op threads (``None``: as they are), then restore the setting.

    Example:
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
    """
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


class ResidentGrowth:
    """A context: ``mb``, the peak resident memory reached in its body above the level at entry (MB).

    Linux only (``/proc/self/clear_refs`` resets the peak); elsewhere ``mb``
    stays ``None``. Memory that earlier work freed is handed back to the
    system first (glibc's ``malloc_trim``), so that the body is not credited
    with memory it reuses.

    Example:
        >>> with ResidentGrowth() as growth:
        ...     block = bytearray(64 * 2**20)
        >>> growth.mb is None or growth.mb > 50
        True
    """

    def __enter__(self):
        self.mb, self._start = None, None
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # the peak is set to the level now
            self._start = _status_kb("VmRSS")
        except (OSError, StopIteration):
            pass
        return self

    def __exit__(self, *exc_info):
        if self._start is not None:
            self.mb = (_status_kb("VmHWM") - self._start) / 1024

