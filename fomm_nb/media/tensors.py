"""Frames (numpy, channels last) to and from tensors (torch, channels first): the one pair of converters.

Frames are ``(T, H, W, C)`` float32 arrays in [0, 1] (uint8 frames are
divided by 255) with C = 3 (RGB) or 1 (gray), the layout in which images are read and written; the model
takes ``(T, C, H, W)`` tensors. One frame ``(H, W, C)`` is a batch of one.

Example:
    >>> frames = np.random.rand(4, 64, 48, 3).astype(np.float32)
    >>> tensor = frames_to_tensor(frames, "cpu")
    >>> tensor.shape
    torch.Size([4, 3, 64, 48])
    >>> np.array_equal(tensor_to_frames(tensor), frames)
    True
"""

import numpy as np
import torch

from ..errors import InputError

__all__ = ["frames_to_tensor", "tensor_to_frames", "to_tensor", "to_numpy"]

_CHANNELS = (1, 3)  # gray or RGB; any other channel axis means a wrong layout


def frames_to_tensor(frames: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """``(T, H, W, C)`` or ``(H, W, C)`` frames -> a ``(T, C, H, W)`` float32 tensor on ``device`` (T = 1 for one frame).

    uint8 frames are divided by 255; float frames are taken as they are. The
    tensor keeps the arrays' channels-last memory (``torch.channels_last``;
    no copy on the CPU). On CUDA it goes through pinned memory, and the copy
    does not block the host.

    Example:
        >>> frames_to_tensor(np.full((2, 2, 3), 255, np.uint8)).tolist() == torch.ones(1, 3, 2, 2).tolist()
        True
    """
    array = np.asarray(frames)
    array = array.astype(np.float32) / 255 if array.dtype == np.uint8 else array.astype(np.float32, copy=False)
    if not array.flags.writeable:  # torch warns on read-only memory (frames of np.broadcast_to, memmaps)
        array = array.copy()
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in _CHANNELS:
        raise InputError(f"frames must be (H, W, C) or (T, H, W, C) arrays, got shape {np.shape(frames)}")
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2)  # (T, C, H, W), memory still (T, H, W, C)
    if device is not None and torch.device(device).type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def tensor_to_frames(tensor: torch.Tensor) -> np.ndarray:
    """A ``(T, C, H, W)`` tensor -> ``(T, H, W, C)`` float32 frames; one ``(C, H, W)`` -> ``(H, W, C)``.

    On the CPU the frames share the float32 tensor's memory (no copy).

    Example:
        >>> tensor_to_frames(torch.zeros(2, 3, 64, 48)).shape
        (2, 64, 48, 3)
        >>> tensor_to_frames(torch.zeros(3, 64, 48)).shape
        (64, 48, 3)
    """
    if tensor.ndim not in (3, 4) or tensor.shape[-3] not in _CHANNELS:
        raise InputError(f"the tensor must be (T, C, H, W) or (C, H, W), got shape {tuple(tensor.shape)}")
    return tensor.detach().to("cpu", torch.float32).movedim(-3, -1).numpy()


to_tensor = frames_to_tensor
"""The name :func:`frames_to_tensor` had in ``fomm_nb.media`` before: kept for notebooks and scripts."""

to_numpy = tensor_to_frames
"""The name :func:`tensor_to_frames` had in ``fomm_nb.media`` before: kept for notebooks and scripts."""
