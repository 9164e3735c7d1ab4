"""Read checkpoint files without running code from them.

Example:
    >>> state = load_checkpoint_file("tests/fixtures/official/tiny-mgif.pth.tar")  # doctest: +SKIP
    >>> sorted(state)[:2]  # doctest: +SKIP
    ['discriminator', 'epoch']
"""

import pickle
from pathlib import Path

import torch

from .errors import CheckpointError


def load_checkpoint_file(path):
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    Raises :class:`CheckpointError` for a missing, empty, truncated or
    non-checkpoint file, and for a file that carries code (refused unread).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty (0 bytes); download it again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(
                f"{path}: refused: the file carries code, not just weights (loading it could run that code)"
            ) from None
        raise CheckpointError(f"{path}: damaged or not a checkpoint ({str(error).splitlines()[0]})") from None
    except Exception as error:  # torch reports damage as many types (EOFError, RuntimeError, IndexError...)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: damaged or truncated checkpoint ({reason}); download it again") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint (holds a {type(state).__name__}, not a dict)")
    return state
