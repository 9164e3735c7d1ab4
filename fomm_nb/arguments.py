"""Range checks for the numbers a user gives, shared by the command line and the API.

Every numeric option of ``fomm-nb`` is parsed by :func:`int_option` or
:func:`float_option` (a bad value is one line, exit status 2), and the
functions behind them check the same ranges with :func:`check_range`
(an :class:`~fomm_nb.errors.InputError`). A batch that cannot fit in memory
is refused before it is tried (:func:`check_batch_memory`).

Example:
    >>> check_range("--videos", 0, low=1)
    Traceback (most recent call last):
    ...
    fomm_nb.errors.InputError: --videos must be at least 1, got 0
    >>> int_option(1, 64)("65")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be from 1 to 64, got 65
"""

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import InputError

__all__ = ["check_range", "int_option", "float_option", "device_option", "available_memory", "check_batch_memory", "BYTES_PER_PIXEL",
           "TRAINING_BYTES_PER_PIXEL"]

#: Memory one driving frame takes while it is animated, per pixel of the model's frames: measured for
#: vox-256 on CPU (78 MB per frame at batch 8, 111 MB at batch 2), rounded up.
BYTES_PER_PIXEL = 1800

#: Memory one more frame pair of a training batch takes in a training step (forward, losses, backward), per
#: pixel of the model's frames: measured by ``benchmarks/batch_memory.py`` (vox-256: 373 MB per pair,
#: 5,690 B/pixel; 64 px: 3,706), rounded up.
TRAINING_BYTES_PER_PIXEL = 6000


def _range_problem(value: float, low: float | None, high: float | None) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if low is not None and high is not None and not low <= value <= high:
        return f"must be from {low} to {high}, got {value}"
    if low is not None and value < low:
        return f"must be at least {low}, got {value}"
    if high is not None and value > high:
        return f"must be at most {high}, got {value}"
    return None


def check_range(name: str, value: float, low: float | None = None, high: float | None = None) -> float:
    """``value`` if ``low <= value <= high`` (either bound may be None), else an InputError naming ``name``.

    Example:
        >>> check_range("batch_size", 4, low=1)
        4
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {value!r}")
    problem = _range_problem(value, low, high)
    if problem:
        raise InputError(f"{name} {problem}")
    return value


def _option(parse: Callable[[str], float], kind: str, low: float | None, high: float | None) -> Callable[[str], float]:
    def option(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        problem = _range_problem(value, low, high)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    option.__name__ = kind  # argparse names the type by it
    return option


def int_option(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` that reads a whole number from ``low`` to ``high``.

    Example:
        >>> int_option(low=1)("8")
        8
    """
    return _option(int, "a whole number", low, high)


def float_option(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """An argparse ``type`` that reads a finite number from ``low`` to ``high``.

    Example:
        >>> float_option(0, 1)("0.25")
        0.25
    """
    return _option(float, "a number", low, high)


def device_option(text: str) -> str:
    """An argparse ``type`` for ``--device``: a device that exists on this machine.

    Example:
        >>> device_option("cpu")
        'cpu'
    """
    from .checkpoints import resolve_device

    try:
        resolve_device(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def available_memory(device: torch.device) -> int:
    """Bytes free for new tensors on ``device``: the GPU's free memory, or the machine's available memory.

    Example:
        >>> available_memory(torch.device("cpu")) > 0
        True
    """
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        if "MemAvailable" in fields:
            return int(fields["MemAvailable"].split()[0]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_batch_memory(batch_size: int, image_size: int, device: torch.device,
                       bytes_per_pixel: int = BYTES_PER_PIXEL) -> int:
    """``batch_size`` when a batch of frames of ``image_size`` fits in ``device``'s memory, else an InputError.

    The need is estimated as ``bytes_per_pixel`` (:data:`BYTES_PER_PIXEL` to
    animate, :data:`TRAINING_BYTES_PER_PIXEL` to train) per pixel of every
    frame of the batch; the message says which batch size fits.

    Example:
        >>> check_batch_memory(10**6, 256, torch.device("cpu"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fomm_nb.errors.InputError: batch size 1000000 needs about ... GB at 256x256, ... GB is free...
    """
    check_range("batch size", batch_size, low=1)
    per_frame = bytes_per_pixel * image_size * image_size
    free = available_memory(device)
    if batch_size * per_frame > free:
        fits = max(1, free // per_frame)
        raise InputError(
            f"batch size {batch_size} needs about {batch_size * per_frame / 1e9:.1f} GB at {image_size}x{image_size}, "
            f"{free / 1e9:.1f} GB is free on {device}: use a batch size of {fits} or less"
        )
    return batch_size
