"""Which ``(workers, batch size)`` the engine keeps of those :func:`~fomm_nb.autotune.tune_engine` timed, and why.

The rule: of the settings whose batch fits in memory and whose trial did not
take too much more memory than batch 1's (:func:`too_big`), those within
:data:`TIE` of the fastest per frame are ties, and of the ties the fewest
workers, then the smallest batch, are kept: the least memory.

Example:
    >>> seconds = {(1, 1): 0.47, (1, 4): 0.39, (2, 8): 0.34}            # seconds per frame
    >>> peaks = {(1, 1): 180.0, (1, 4): 200.0, (2, 8): 295.0}           # MB each trial took
    >>> pick(seconds, lambda batch: True), pick(seconds, lambda batch: True, peaks)
    ((2, 8), (1, 4))
"""

from dataclasses import dataclass, field

__all__ = ["EngineChoice", "pick", "too_big", "engine_lines", "TIE", "MEMORY_SHARE", "MEMORY_SLACK_MB"]

#: Settings within this fraction of the fastest time per frame count as ties (timing noise on a shared
#: machine); the one of least memory is kept: the fewest workers (at vox-256, batch 4, a second worker added
#: about +180 MB to the peak under glibc's default allocator settings), then the smallest batch (less latency).
TIE = 0.05
#: A setting whose trial took more than this many times the memory of the fewest workers at batch 1 (about what
#: the published loop holds per frame), and more than :data:`MEMORY_SLACK_MB` above it, is not kept, however
#: fast: a classroom server runs one kernel per student. At vox-256 under AVX2 2 workers at batch 8 were 10%
#: faster than 1 at batch 4 and took 1.3-1.6x the published loop's memory.
MEMORY_SHARE = 1.25
#: Memory above the batch-1 setting's that is never too much (the bundled model's batches take tens of MB).
MEMORY_SLACK_MB = 64


@dataclass
class EngineChoice:
    """The engine's workers and batch size: seconds per frame of each ``(workers, batch size)`` timed, those kept.

    ``refused`` are the batch sizes :func:`~fomm_nb.arguments.check_batch_memory`
    refused (not timed); ``untimed`` says why nothing was timed, when nothing was.
    """

    workers: int
    batch_size: int
    seconds: dict[tuple[int, int], float]
    refused: tuple[int, ...] = ()
    untimed: str | None = None
    peaks: dict[tuple[int, int], float] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """Why these settings were kept, in words."""
        if self.untimed:
            return self.untimed
        kept, too_much = (self.workers, self.batch_size), too_big(self.peaks)
        fastest = min(self.seconds, key=self.seconds.get)
        slower = self.seconds[kept] / self.seconds[fastest] - 1
        if fastest in too_much:
            return (f"the fastest within {MEMORY_SHARE}x the memory of batch 1 ({fastest[0]} workers, batch "
                    f"{fastest[1]} took {self.peaks[fastest]:.0f} MB): {slower:.1%} slower per frame")
        if fastest == kept:
            return "fastest per frame"
        return (f"the least memory within {TIE:.0%} of the fastest ({fastest[0]} workers, batch {fastest[1]}): "
                f"{slower:.1%} slower per frame, fewer workers or a smaller batch")


def too_big(peaks):
    """The settings of ``peaks`` (trial memory, MB) over :data:`MEMORY_SHARE` of the least-memory setting's."""
    if not peaks:
        return set()
    least = peaks[min(peaks, key=lambda setting: (setting[1], setting[0]))]  # the fewest workers at the smallest batch
    ceiling = max(MEMORY_SHARE * least, least + MEMORY_SLACK_MB)
    return {setting for setting, mb in peaks.items() if mb > ceiling}


def pick(seconds, fits, peaks=None):
    """The ``(workers, batch)`` kept: of those whose batch ``fits``, whose memory is not :func:`too_big`, and
    within :data:`TIE` of the fastest, the fewest workers, then the smallest batch."""
    too_much = too_big(peaks)
    allowed = {setting: time_ for setting, time_ in seconds.items() if fits(setting[1]) and setting not in too_much}
    if not allowed:
        return None
    best = min(allowed.values())
    return min(setting for setting, time_ in allowed.items() if time_ <= best * (1 + TIE))


def _rows(values, batches, cell):
    """One line per worker count of ``values`` ``{(workers, batch): value}``, a column per batch, ``-`` where none."""
    return [f"  {workers} worker{'s' if workers > 1 else ' '} " + "".join(
        f"{'-' if value is None else cell(value):>10s}" for value in (values.get((workers, batch)) for batch in batches))
        for workers in sorted({workers for workers, _ in values})]


def engine_lines(choice, key, cached):
    how = f" ({'read from the cache' if cached else 'timed now'}; ms per frame below)" if choice.seconds else ""
    workers = f"{choice.workers} worker{'s' if choice.workers > 1 else ''}"
    lines = [f"engine key: {key}", f"engine: {workers}, batch {choice.batch_size}: {choice.reason}{how}"]
    batches = sorted({batch for _, batch in choice.seconds})
    if choice.seconds:
        lines.append("  " + " " * 10 + "".join(f"{f'batch {batch}':>10s}" for batch in batches))
        lines += _rows(choice.seconds, batches, lambda seconds: f"{1e3 * seconds:.1f}")
    if choice.peaks:
        lines.append("  memory of each trial (MB above the level before it):")
        lines += _rows(choice.peaks, batches, lambda mb: f"{mb:.0f}")
    if choice.refused:
        lines.append(f"  batch {', '.join(map(str, choice.refused))}: refused by the memory check (not timed)")
    return lines
