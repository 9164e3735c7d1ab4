"""Keypoints edited by hand: moved, their Jacobians turned, scaled and sheared, with undo.

Each keypoint ``k`` keeps its detected Jacobian ``J_k`` and three edit
parameters; the edited Jacobian is

    J'_k = R(rotation_k) S(scale_k) H(shear_k) J_k,

with ``R`` a rotation (degrees; positive turns clockwise on screen, where y
points down), ``S`` a uniform scale and ``H = [[1, shear], [0, 1]]``.

Example:
    >>> editor = KeypointEditor({"value": torch.zeros(1, 2, 2), "jacobian": torch.eye(2).expand(1, 2, 2, 2)})
    >>> editor.move(0, (0.5, -0.5))
    >>> editor.set_jacobian_edit(1, rotation=90)
    >>> (editor.kp["jacobian"][0, 1].round() + 0.0).tolist()
    [[0.0, -1.0], [1.0, 0.0]]
    >>> editor.undo(), editor.undo(), editor.undo()
    (True, True, False)
    >>> editor.kp["value"].abs().sum().item()
    0.0
"""

import math

import numpy as np
import torch

from ..errors import InputError
from ..types import Keypoints

__all__ = ["KeypointEditor", "edit_matrices", "NO_EDIT"]

NO_EDIT = (0.0, 1.0, 0.0)  # rotation (degrees), scale, shear
HISTORY_LIMIT = 200


def edit_matrices(edits: np.ndarray) -> torch.Tensor:
    """The ``(K, 2, 2)`` matrices ``R S H`` of edits ``(K, 3)`` = (rotation degrees, scale, shear).

    Example:
        >>> edit_matrices(np.array([[0.0, 2.0, 0.5]]))
        tensor([[[2., 1.],
                 [0., 2.]]])
    """
    edits = torch.as_tensor(np.asarray(edits, dtype=np.float32))
    angle = edits[:, 0] * (math.pi / 180)
    cos, sin, scale, shear = torch.cos(angle), torch.sin(angle), edits[:, 1], edits[:, 2]
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shearing = torch.zeros_like(rotation)
    shearing[:, 0, 0] = shearing[:, 1, 1] = 1.0
    shearing[:, 0, 1] = shear
    return rotation @ (scale[:, None, None] * shearing)


class KeypointEditor:
    """Driving keypoints ``(1, K, 2)`` (and Jacobians ``(1, K, 2, 2)``) under edit, with an undo history.

    Consecutive edits of one kind on one keypoint form one undo step until
    :meth:`end_gesture` (a mouse-up, a change of selection); :meth:`load`
    (snap to a frame's detections, reset) is one step of its own.
    """

    def __init__(self, kp: Keypoints) -> None:
        self.history = []
        self._gesture = None
        self._set(kp["value"], kp.get("jacobian"), np.tile(NO_EDIT, (kp["value"].shape[1], 1)))

    def _set(self, value, base_jacobian, edits):
        self.value = value.detach().clone().float()
        self.base_jacobian = None if base_jacobian is None else base_jacobian.detach().clone().float()
        self.edits = np.array(edits, dtype=np.float32)

    @property
    def num_kp(self) -> int:
        return self.value.shape[1]

    @property
    def has_jacobian(self) -> bool:
        return self.base_jacobian is not None

    @property
    def kp(self) -> Keypoints:
        """The edited keypoints (``value``, and ``jacobian`` when detected)."""
        kp = Keypoints(self.value.clone())
        if self.has_jacobian:
            kp.jacobian = edit_matrices(self.edits).to(self.base_jacobian.device)[None] @ self.base_jacobian
        return kp

    def _check(self, k):
        if not 0 <= k < self.num_kp:
            raise InputError(f"keypoint {k} does not exist: there are {self.num_kp} (0 to {self.num_kp - 1})")

    def _remember(self, gesture):
        """Save an undo step unless this edit continues the current gesture."""
        if gesture is None or gesture != self._gesture:
            self.history.append((self.value.clone(), self.base_jacobian, self.edits.copy()))
            del self.history[:-HISTORY_LIMIT]
        self._gesture = gesture

    def end_gesture(self) -> None:
        """The next edit starts a new undo step."""
        self._gesture = None

    def move(self, k: int, xy: tuple[float, float]) -> None:
        """Put keypoint ``k`` at ``xy`` = ``(x, y)`` in [-1, 1] (clipped to the image)."""
        self._check(k)
        self._remember(("move", k))
        self.value[0, k] = torch.as_tensor(np.clip(np.asarray(xy, dtype=np.float32), -1, 1))

    def set_jacobian_edit(
        self, k: int, rotation: float | None = None, scale: float | None = None, shear: float | None = None
    ) -> None:
        """Set keypoint ``k``'s Jacobian edit; parameters left as None keep their value."""
        self._check(k)
        if not self.has_jacobian:
            raise InputError("this model predicts no Jacobians: there is nothing to rotate, scale or shear")
        if scale is not None and scale <= 0:
            raise InputError(f"a Jacobian scale must be positive, got {scale}")
        self._remember(("jacobian", k))
        for index, new in enumerate((rotation, scale, shear)):
            if new is not None:
                self.edits[k, index] = new

    def load(self, kp: Keypoints) -> None:
        """Replace everything by ``kp`` (e.g. a frame's detected keypoints), edits cleared; one undo step."""
        self._remember(None)
        self._set(kp["value"], kp.get("jacobian"), np.tile(NO_EDIT, (self.num_kp, 1)))
        self.end_gesture()

    def undo(self) -> bool:
        """Go back one step; returns False when there is nothing to undo."""
        self.end_gesture()
        if not self.history:
            return False
        value, base_jacobian, edits = self.history.pop()
        self._set(value, base_jacobian, edits)
        return True
