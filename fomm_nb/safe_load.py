"""Read checkpoint files without running code from them.

``torch.load(..., weights_only=True)`` unpickles only tensors and plain
containers; a pickle that asks for any other function or class (what a
crafted file uses to run code) is refused. This module turns torch's many
failure types into one-line :class:`~fomm_nb.errors.CheckpointError`.

Example:
    >>> state = load_checkpoint_file("checkpoints/fomm-nb-faces.pth.tar")  # doctest: +SKIP
    >>> sorted(state)  # doctest: +SKIP
    ['config', 'generator', 'kp_detector']
"""

import os
import pickle
from pathlib import Path

import torch

from .errors import CheckpointError

__all__ = ["ZIP_MAGIC", "PICKLE_PROTO", "looks_like_checkpoint", "load_checkpoint_file"]

ZIP_MAGIC = b"PK\x03\x04"  # torch.save since torch 1.6
PICKLE_PROTO = b"\x80"  # legacy torch.save (the published checkpoints): a pickle, protocol 2 to 5
# Phrases of torch's weights-only unpickler when a pickle asks for code it does not allow.
_REFUSED = ("GLOBAL", "call reduce", "Can only create new object", "Can only build")


def looks_like_checkpoint(head: bytes) -> bool:
    """Whether the first bytes of a file look like a torch checkpoint (zip or pickle); a cheap check.

    Example:
        >>> looks_like_checkpoint(b"PK\\x03\\x04...."), looks_like_checkpoint(b"<!DOCTYPE html>")
        (True, False)
    """
    is_pickle = head[:1] == PICKLE_PROTO and len(head) > 1 and 2 <= head[1] <= 5
    return head.startswith(ZIP_MAGIC) or is_pickle


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:160] if lines else type(error).__name__


def load_checkpoint_file(path: str | os.PathLike) -> dict:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    Returns the checkpoint's dict. Raises :class:`CheckpointError` for a
    missing, empty, truncated or non-checkpoint file, and for a file that
    carries code (refused, nothing in it is run).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if not head:
        raise CheckpointError(f"{path}: the file is empty (0 bytes); download or copy it again")
    if not looks_like_checkpoint(head):
        raise CheckpointError(
            f"{path}: damaged or not a torch checkpoint (it starts with {head!r}); download or copy it again"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if any(phrase in str(error) for phrase in _REFUSED):
            raise CheckpointError(
                f"{path}: refused: the file carries code, not just weights, and loading it could run that code; "
                "use a checkpoint from a trusted source"
            ) from None
        raise CheckpointError(f"{path}: damaged or not a checkpoint; download or copy it again") from None
    except Exception as error:  # torch reports damage as EOFError, RuntimeError, OSError, IndexError...
        raise CheckpointError(
            f"{path}: damaged or truncated checkpoint ({_first_line(error)}); download or copy it again"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a checkpoint (it holds a {type(state).__name__}, not a dict)")
    return state
