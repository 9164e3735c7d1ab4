"""The kernel manager ``fomm-nb serve`` gives Voila: spare kernels started one at a time, not all at once.

Voila keeps a pool of kernels that have already run the page, so that a page
opens in a fraction of a second. Each kernel taken from the pool is replaced,
``fill_delay`` seconds later, by a new one, which starts Python and runs the
page: seconds of CPU. When a class opens its pages together, Voila would start
all the replacements together, on the cores the students are dragging on
(24 students: about two minutes of both cores of the machine the README's
table was measured on). :class:`PacedKernelManager` lets the first fill of the
pools start at once (no student is waiting for the CPU then) and spaces the
later pool kernels ``spacing`` seconds apart. A kernel for a page request
itself (when the pool is empty) is never held back, and the kernels still
waiting for their turn when the server stops are not started.

Example (the options ``fomm-nb serve`` passes to Voila)::

    --VoilaConfiguration.multi_kernel_manager_class=fomm_nb.serve.kernels.PacedKernelManager
    --PacedKernelManager.free_starts=24 --PacedKernelManager.spacing=20
"""

import asyncio

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Float, Integer

__all__ = ["PacedKernelManager"]

PREHEAT_VARIABLE = "VOILA_PREHEAT"  # "True" in the environment of a kernel Voila starts for its pool


class PacedKernelManager(AsyncMappingKernelManager):
    """An :class:`AsyncMappingKernelManager` whose pool kernels, after the first ``free_starts``, start ``spacing`` s apart."""

    free_starts = Integer(0, config=True, help="pool kernels started without waiting (the first fill of the pools)")
    spacing = Float(20.0, config=True, help="seconds between the starts of two later pool kernels")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pool_starts = 0
        self._next_start = 0.0  # the event loop's time at which the next paced start may go
        self._stopping = asyncio.Event()

    async def start_kernel(self, *args, **kwargs) -> str:
        """Start a kernel; a pool kernel beyond the first fill waits for its turn first."""
        if kwargs.get("env", {}).get(PREHEAT_VARIABLE) == "True":
            self._pool_starts += 1
            if self._pool_starts > self.free_starts:
                try:
                    await asyncio.wait_for(self._stopping.wait(), self._turn())
                except asyncio.TimeoutError:  # its turn came
                    pass
                else:
                    raise RuntimeError("the server is stopping: this spare kernel is not started")
        return await super().start_kernel(*args, **kwargs)

    async def shutdown_all(self, *args, **kwargs) -> None:
        """Stop every kernel; the spare kernels still waiting for their turn give up (Voila awaits them)."""
        self._stopping.set()
        await super().shutdown_all(*args, **kwargs)

    def _turn(self) -> float:
        """Seconds until this start's turn (and book the next one).

        Example:
            >>> manager = PacedKernelManager(spacing=20.0)
            >>> async def turns():
            ...     return [round(manager._turn()) for _ in range(3)]
            >>> asyncio.run(turns())
            [0, 20, 40]
        """
        now = asyncio.get_running_loop().time()
        start = max(now, self._next_start)
        self._next_start = start + self.spacing
        return start - now
