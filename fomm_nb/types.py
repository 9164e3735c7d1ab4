"""Typed data passed between the model's layers: keypoints and network outputs.

The published code hands plain dicts around (``kp["value"]``,
``out["prediction"]``). These dataclasses name every field and its shape, and
still answer the dict calls, as diffusers' output classes do, so code written
for the dicts keeps working:

* ``kp["value"]`` is ``kp.value``; an unknown key raises ``KeyError``;
* a field that is ``None`` counts as absent: ``"jacobian" in kp`` is ``False``
  for keypoints without Jacobians, and ``dict(kp)``, ``kp.keys()``,
  ``kp.items()`` leave it out;
* ``kp["jacobian"] = tensor`` sets the field.

Example:
    >>> kp = Keypoints(torch.zeros(1, 10, 2))
    >>> kp["value"].shape, "jacobian" in kp, list(kp)
    (torch.Size([1, 10, 2]), False, ['value'])
    >>> kp = Keypoints(torch.zeros(1, 10, 2), torch.eye(2).expand(1, 10, 2, 2))
    >>> sorted(dict(kp)), kp.get("heatmap") is None
    (['jacobian', 'value'], True)
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Keypoints", "DenseMotion", "GeneratorOutput"]


class _ReadsLikeADict:
    """Dict-style access to a dataclass's fields; a ``None`` field counts as absent."""

    def keys(self) -> list[str]:
        """The names of the fields that are set (not ``None``), in declaration order."""
        return [name for name in self.__dataclass_fields__ if getattr(self, name) is not None]

    def values(self) -> list[Any]:
        """The values of the fields that are set."""
        return [getattr(self, key) for key in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` for each field that is set."""
        return [(key, getattr(self, key)) for key in self.keys()]

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key``, or ``default`` when it is unset or unknown."""
        return self[key] if key in self else default

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.__dataclass_fields__:
            raise KeyError(f"{type(self).__name__} has no field {key!r}")
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.__dataclass_fields__ and getattr(self, key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclass(eq=False)
class Keypoints(_ReadsLikeADict):
    """Keypoints as the detector returns them (paper, section 3.2).

    Attributes:
        value: ``(B, K, 2)`` positions in ``[-1, 1]``, ``(x, y)`` order.
        jacobian: ``(B, K, 2, 2)`` local affine maps, or ``None`` (zero-order motion).
        heatmap: ``(B, K, h, w)`` softmax probability maps, only when asked for.

    Example:
        >>> kp = Keypoints(torch.zeros(2, 5, 2))
        >>> kp.value.shape, kp.jacobian is None
        (torch.Size([2, 5, 2]), True)
    """

    value: torch.Tensor
    jacobian: torch.Tensor | None = None
    heatmap: torch.Tensor | None = None


@dataclass(eq=False)
class DenseMotion(_ReadsLikeADict):
    """What the dense motion network predicts (paper, section 3.2); ``h, w`` its resolution.

    Attributes:
        deformation: ``(B, h, w, 2)`` source coordinates for each driving pixel.
        mask: ``(B, K+1, h, w)`` soft masks over the motions (background first), summing to 1.
        sparse_deformed: ``(B, K+1, C, h, w)`` the source warped by each motion.
        occlusion_map: ``(B, 1, h, w)`` in ``[0, 1]``, or ``None`` when not estimated.

    Example:
        >>> motion = DenseMotion(torch.zeros(1, 8, 8, 2), torch.ones(1, 1, 8, 8), torch.zeros(1, 1, 3, 8, 8))
        >>> list(motion)
        ['deformation', 'mask', 'sparse_deformed']
    """

    deformation: torch.Tensor
    mask: torch.Tensor
    sparse_deformed: torch.Tensor
    occlusion_map: torch.Tensor | None = None


@dataclass(eq=False)
class GeneratorOutput(_ReadsLikeADict):
    """What the generator returns (paper, section 3.3).

    Attributes:
        prediction: ``(B, C, H, W)`` the painted frames, in ``[0, 1]``.
        mask, sparse_deformed, deformation, occlusion_map: the
            :class:`DenseMotion` fields (``None`` without a dense motion network).
        deformed: ``(B, C, H, W)`` the source warped by the dense motion.

    Example:
        >>> out = GeneratorOutput(torch.zeros(1, 3, 4, 4))
        >>> out["prediction"].shape, "mask" in out, dict(out).keys()
        (torch.Size([1, 3, 4, 4]), False, dict_keys(['prediction']))
    """

    prediction: torch.Tensor
    mask: torch.Tensor | None = None
    sparse_deformed: torch.Tensor | None = None
    occlusion_map: torch.Tensor | None = None
    deformation: torch.Tensor | None = None
    deformed: torch.Tensor | None = None


for _cls in (Keypoints, DenseMotion, GeneratorOutput):
    Mapping.register(_cls)
