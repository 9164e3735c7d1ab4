"""A motion track: a driving video's keypoints over time, saved, checked and loaded.

The driving keypoints that animation computes and throws away are kept as
a :class:`MotionTrack`: ``value`` ``(T, K, 2)`` in ``[-1, 1]`` ``(x, y)`` and,
for models with Jacobians, ``jacobian`` ``(T, K, 2, 2)``, plus what a replay
needs to be honest: the frame rate, the model's name and a fingerprint of its
keypoint detector (keypoint 3 of one model means nothing to another), and the
initial frame of relative motion.

File format (``.npz``, version :data:`TRACK_FORMAT_VERSION`): the arrays
``value`` (float32 ``(T, K, 2)``), ``jacobian`` (float32 ``(T, K, 2, 2)``,
absent for models without Jacobians) and ``header``, a JSON string with
``version``, ``fps``, ``model``, ``fingerprint``, ``initial_frame`` and
``metadata``. :meth:`MotionTrack.load` checks every part and refuses a bad
file with one line (a :class:`TrackError`) that names it.

Example:
    >>> track = MotionTrack(np.zeros((3, 10, 2), np.float32), None, fps=25.0, model="faces-13k", fingerprint="0" * 16)
    >>> track.save("motion.npz")
    PosixPath('motion.npz')
    >>> MotionTrack.load("motion.npz").value.shape
    (3, 10, 2)
"""

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import FommError

__all__ = ["TRACK_FORMAT_VERSION", "TrackError", "MotionTrack", "detector_fingerprint"]

#: The version of the ``.npz`` layout this code writes and reads.
TRACK_FORMAT_VERSION = 1


class TrackError(FommError, ValueError):
    """A motion track file is unreadable, malformed, or made for another model."""


def detector_fingerprint(model: torch.nn.Module) -> str:
    """16 hex digits of SHA-256 over the keypoint detector's state dict (names, shapes, dtypes, bytes).

    Two models share a fingerprint only when their detectors are the same
    weights, so their keypoints mean the same thing.

    Example:
        >>> from fomm_nb.hub import get_model
        >>> len(detector_fingerprint(get_model("demo")))
        16
    """
    digest = hashlib.sha256()
    for name, tensor in model.kp_detector.state_dict().items():
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


@dataclass
class MotionTrack:
    """Keypoints of a driving video over time (see the module's docstring for the file format).

    Attributes:
        value: ``(T, K, 2)`` float32 keypoint positions in ``[-1, 1]``, ``(x, y)``.
        jacobian: ``(T, K, 2, 2)`` float32, or ``None`` for models without Jacobians.
        fps: frames per second of the driving video.
        model: the name of the model's config (``model.config.name``).
        fingerprint: :func:`detector_fingerprint` of the model that made it.
        initial_frame: the frame relative motion starts from.
        metadata: free-form JSON-able notes (source video, filter, ...).
    """

    value: np.ndarray
    jacobian: np.ndarray | None
    fps: float
    model: str
    fingerprint: str
    initial_frame: int = 0
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.value = np.asarray(self.value, dtype=np.float32)
        if self.jacobian is not None:
            self.jacobian = np.asarray(self.jacobian, dtype=np.float32)
        problem = self._problem()
        if problem:
            raise TrackError(f"motion track: {problem}")

    def __len__(self) -> int:
        return len(self.value)

    @property
    def num_kp(self) -> int:
        """K, the number of keypoints."""
        return self.value.shape[1]

    @classmethod
    def from_keypoints(cls, kp, fps: float, model: torch.nn.Module, initial_frame: int = 0, **metadata) -> "MotionTrack":
        """A track of detected keypoints ``kp`` (``value`` ``(T, K, 2)``, ``jacobian`` ``(T, K, 2, 2)``) of ``model``."""
        jacobian = kp["jacobian"].detach().cpu().numpy() if "jacobian" in kp else None
        return cls(kp["value"].detach().cpu().numpy(), jacobian, float(fps), model.config.name,
                   detector_fingerprint(model), int(initial_frame), dict(metadata))

    def keypoints(self, start: int = 0, stop: int | None = None, device="cpu") -> dict:
        """Frames ``start:stop`` as a keypoint dict of tensors: ``value`` ``(B, K, 2)``, ``jacobian`` ``(B, K, 2, 2)``.

        Example:
            >>> track = MotionTrack(np.zeros((5, 10, 2)), None, 25.0, "faces-13k", "0" * 16)
            >>> track.keypoints(1, 3)["value"].shape
            torch.Size([2, 10, 2])
        """
        arrays = {"value": self.value, **({"jacobian": self.jacobian} if self.jacobian is not None else {})}
        return {key: torch.from_numpy(array[start:stop]).to(device) for key, array in arrays.items()}

    def replace(self, **changes) -> "MotionTrack":
        """A copy with some fields changed (checked again), e.g. ``track.replace(value=smoothed)``."""
        return replace(self, **changes)

    def _problem(self) -> str | None:
        """What is wrong with this track, in a few words, or None."""
        if self.value.ndim != 3 or self.value.shape[2] != 2 or len(self.value) == 0:
            return f"value must be (T, K, 2) with T >= 1, got {self.value.shape}"
        if self.jacobian is not None and self.jacobian.shape != (*self.value.shape, 2):
            return f"jacobian must be (T, K, 2, 2) = {(*self.value.shape, 2)}, got {self.jacobian.shape}"
        for name, array in (("value", self.value), ("jacobian", self.jacobian)):
            if array is not None and not np.isfinite(array).all():
                frame = int(np.argwhere(~np.isfinite(array))[0, 0])
                return f"{name} holds NaN or infinite numbers (first at frame {frame})"
        if not (isinstance(self.fps, (int, float)) and np.isfinite(self.fps) and self.fps > 0):
            return f"fps must be a positive number, got {self.fps!r}"
        if not 0 <= self.initial_frame < len(self.value):
            return f"initial_frame {self.initial_frame} is not a frame of the track (0 to {len(self.value) - 1})"
        return None

    def check_model(self, model: torch.nn.Module, where: str = "motion track") -> None:
        """Raise :class:`TrackError` unless ``model`` can replay this track (K, Jacobians, same detector).

        Example:
            >>> from fomm_nb.hub import get_model
            >>> track = MotionTrack(np.zeros((2, 10, 2)), None, 25.0, "faces-13k", "0" * 16)
            >>> track.check_model(get_model("demo"), "nod.npz")
            Traceback (most recent call last):
            ...
            fomm_nb.tracks.track.TrackError: nod.npz: the model 'faces-13k' needs Jacobians (T, K, 2, 2); the track has none
        """
        config = model.config
        if self.num_kp != config.num_kp:
            raise TrackError(f"{where}: the track has {self.num_kp} keypoints, the model '{config.name}' {config.num_kp}")
        if config.estimate_jacobian and self.jacobian is None:
            raise TrackError(f"{where}: the model '{config.name}' needs Jacobians (T, K, 2, 2); the track has none")
        if self.fingerprint != detector_fingerprint(model):
            raise TrackError(f"{where}: made by the keypoint detector of '{self.model}' ({self.fingerprint}), "
                             f"not by this model's '{config.name}': its keypoints mean something else; track the video again")

    def header(self) -> dict:
        """Everything but the arrays, as written to the file."""
        return {"version": TRACK_FORMAT_VERSION, "fps": self.fps, "model": self.model, "fingerprint": self.fingerprint,
                "initial_frame": self.initial_frame, "metadata": self.metadata}

    def save(self, path) -> Path:
        """Write the track to ``path`` (``.npz``), atomically: the file appears complete or not at all."""
        path = Path(path)
        arrays = {"value": self.value, "header": np.array(json.dumps(self.header()))}
        if self.jacobian is not None:
            arrays["jacobian"] = self.jacobian
        with _atomic(path, ".npz") as handle:
            np.savez(handle, **arrays)
        return path

    def to_json(self, path) -> Path:
        """Export the track as JSON for other tools: the header plus ``value`` and ``jacobian`` as nested lists.

        Example:
            >>> track = MotionTrack(np.zeros((1, 1, 2)), None, 25.0, "faces-13k", "0" * 16)
            >>> json.loads(track.to_json("motion.json").read_text())["value"]
            [[[0.0, 0.0]]]
        """
        path = Path(path)
        document = {**self.header(), "value": self.value.tolist(),
                    "jacobian": None if self.jacobian is None else self.jacobian.tolist()}
        with _atomic(path, ".json") as handle:
            handle.write(json.dumps(document).encode())
        return path

    @classmethod
    def load(cls, path, model: torch.nn.Module | None = None) -> "MotionTrack":
        """Read and check a track written by :meth:`save`; with ``model``, also check it fits that model.

        Raises:
            TrackError: one line naming ``path`` and the problem (missing, not a
                track, another version, bad shapes, non-finite numbers, another model).
        """
        path = Path(path)
        if not path.is_file():
            raise TrackError(f"{path}: no such motion track file")
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            raise TrackError(f"{path}: not a motion track (.npz) file") from None
        header = _read_header(path, arrays)
        try:
            track = cls(arrays["value"], arrays.get("jacobian"), header["fps"], header["model"], header["fingerprint"],
                        header["initial_frame"], header["metadata"])
        except TrackError as error:
            raise TrackError(f"{path}: {str(error).removeprefix('motion track: ')}") from None
        if model is not None:
            track.check_model(model, str(path))
        return track


_HEADER_TYPES = {"fps": (int, float), "model": str, "fingerprint": str, "initial_frame": int, "metadata": dict}


def _read_header(path, arrays) -> dict:
    """The checked header of the arrays read from ``path``."""
    if "value" not in arrays or "header" not in arrays:
        raise TrackError(f"{path}: not a motion track: it lacks the 'value' or 'header' array")
    try:
        header = json.loads(str(arrays["header"]))
    except json.JSONDecodeError:
        raise TrackError(f"{path}: the track's header is not JSON") from None
    if not isinstance(header, dict):
        raise TrackError(f"{path}: the track's header is not a JSON object")
    if header.get("version") != TRACK_FORMAT_VERSION:
        raise TrackError(f"{path}: track format version {header.get('version')!r}; "
                         f"this fomm-nb reads version {TRACK_FORMAT_VERSION}")
    for key, kind in _HEADER_TYPES.items():
        if not isinstance(header.get(key), kind) or isinstance(header.get(key), bool):
            raise TrackError(f"{path}: the track's header lacks '{key}' or it is not a {_kind_name(kind)}")
    return header


def _kind_name(kind) -> str:
    return {str: "string", int: "whole number", dict: "JSON object"}.get(kind, "number")


class _atomic:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``, else it vanishes."""

    def __init__(self, path: Path, suffix: str):
        if not path.parent.is_dir():
            raise TrackError(f"{path}: the folder {path.parent} does not exist")
        self.path, self.suffix = path, suffix

    def __enter__(self):
        descriptor, name = tempfile.mkstemp(dir=self.path.parent, prefix=".fomm-", suffix=self.suffix)
        self.temporary = Path(name)
        self.handle = os.fdopen(descriptor, "wb")
        return self.handle

    def __exit__(self, kind, error, trace):
        self.handle.close()
        if kind is None:
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)
        return False
