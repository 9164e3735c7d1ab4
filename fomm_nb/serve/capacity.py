"""What this machine can hold: students per app, from its memory and cores and from measured costs.

The figures are measured by ``benchmarks/classroom.py`` (protocol-level
students, the explorer dragging a keypoint in a loop) and by the kernels'
memory under ``fomm-nb serve``; see the README's classroom section for the
table and the machine it was measured on.

Example:
    >>> estimate = capacity("explorer", cores=2, memory_gb=16.0)
    >>> estimate.by_memory, estimate.by_cpu
    (18, 16)
"""

import os
from dataclasses import dataclass

import psutil

__all__ = ["KERNEL_GB", "STUDENTS_PER_CORE", "Capacity", "capacity", "describe"]

# Resident memory of one served kernel with its app running (GB), measured with
# the bundled model: a try-it kernel while it generates, the others after a drag.
KERNEL_GB = {"try-it": 0.6, "explorer": 0.43, "sliders": 0.4, "live": 0.6}
# Students whose drags stay under 0.5 s (p95) with 5 updates/s each, per core.
# Explorer: benchmarks/classroom.py under fomm-nb serve on the idle 2-core Xeon,
# each student's moves at their share of the server (fomm_nb.serve.plan.move_interval_ms):
# 16 students kept p95 0.12-0.13 s at 5.9-6.0 updates/s (two runs); 24 kept p95
# 0.21 s, at 4.0 updates/s each.
# The other apps are not measured by it: the sliders keep the explorer's figure
# from before its pictures went out in one message (the sliders' pictures now
# go out in one too, beside the L1 line: two messages; not measured in a class);
# try-it is not interactive (Generate takes turns); live streams a camera.
STUDENTS_PER_CORE = {"explorer": 8, "sliders": 4, "try-it": 8, "live": 2}
SPARE_FRACTION = 2  # the pool keeps a spare kernel for each one in use: memory for twice the class


@dataclass(frozen=True)
class Capacity:
    """How many students of one app this machine holds, by memory and by CPU."""

    app: str
    cores: int
    memory_gb: float
    by_memory: int
    by_cpu: int

    @property
    def students(self) -> int:
        return min(self.by_memory, self.by_cpu)


def capacity(app: str, cores: int | None = None, memory_gb: float | None = None) -> Capacity:
    """Students of ``app`` that ``cores`` and ``memory_gb`` hold (default: this machine, memory available now)."""
    cores = cores or len(os.sched_getaffinity(0))
    memory_gb = memory_gb if memory_gb is not None else psutil.virtual_memory().available / 1e9
    by_memory = int(memory_gb / (KERNEL_GB[app] * SPARE_FRACTION))
    return Capacity(app, cores, memory_gb, by_memory, STUDENTS_PER_CORE[app] * cores)


def describe(apps, students: int) -> list:
    """Lines that say what this machine holds for ``apps`` (``explorer``...) and warn when ``students`` is more."""
    lines = []
    for app in apps:
        estimate = capacity(app)
        verdict = "fits" if students <= estimate.students else "is more than it holds: expect slow updates"
        lines.append(f"{app}: this machine ({estimate.cores} cores, {estimate.memory_gb:.0f} GB free) holds about "
                     f"{estimate.by_cpu} students by CPU and {estimate.by_memory} by memory; a class of {students} "
                     f"{verdict}")
    return lines
