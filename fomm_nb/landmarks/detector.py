"""A landmark detector independent of every FOMM model: the ruler that AKD is measured with.

The paper measures the average keypoint distance (AKD) with an external
landmark detector, because a model's own keypoints cannot judge its own
pictures: a generated frame that is wrong in a way the model's detector does
not see would score well. This small network is trained with supervision to
output the rendered ground-truth landmarks of procedural faces
(:func:`fomm_nb.data.procedural.landmarks`, 13 of them, pixels ``(x, y)``)
directly. It shares no weight and no training signal with any FOMM model.

It is a small hourglass: three down blocks, two up blocks with skips (29
million multiply-adds per 64x64 frame), one heatmap per landmark at half resolution, a softmax over each heatmap and the
expectation of the coordinate grid under it (sub-pixel, differentiable). With ``fine=True`` a third up
block takes the heatmaps to full resolution, beside the first block's full-resolution features as a skip.

Example:
    >>> detector = LandmarkDetector().eval()
    >>> read_landmarks(detector, np.zeros((2, 64, 64, 3), np.float32)).shape
    (2, 13, 2)
"""

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, InputError
from ..geometry import spatial_expectation, spatial_softmax
from ..modules.blocks import DownBlock2d, SameBlock2d, UpBlock2d

__all__ = ["DETECTOR_PATH", "LandmarkDetector", "load_landmark_detector", "mirror_order", "read_landmarks",
           "save_landmark_detector"]

#: The shipped detector, beside the bundled model in ``checkpoints/``.
DETECTOR_PATH = Path(__file__).resolve().parents[2] / "checkpoints" / "landmarks.pth.tar"


def mirror_order(names) -> list[int]:
    """For each landmark name, the index of its mirror image (``left_*`` <-> ``right_*``; itself otherwise).

    Example:
        >>> mirror_order(["left_eye", "right_eye", "nose_tip"])
        [1, 0, 2]
    """
    names = list(names)
    swapped = [name.replace("left", "\0").replace("right", "left").replace("\0", "right") for name in names]
    return [names.index(name) if name in names else index for index, name in enumerate(swapped)]


class LandmarkDetector(nn.Module):
    """Images ``(B, 3, S, S)`` in [0, 1] -> landmarks ``(B, L, 2)``, pixel coordinates ``(x, y)`` of the input.

    ``width`` is the channel count of the first block; ``image_size`` the side
    it was trained at (other sides are resized to it, see :func:`read_landmarks`);
    ``mirror`` (optional) the index of each landmark's mirror image
    (:func:`mirror_order`): :func:`read_landmarks` then reads each frame and its
    mirror image and averages the two. ``fine`` puts the heatmaps at full
    resolution instead of half (a third up block of ``width // 2`` channels).

    Example:
        >>> LandmarkDetector(num_landmarks=5, width=8)(torch.rand(3, 3, 64, 64)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, num_landmarks: int = 13, width: int = 16, image_size: int = 64,
                 mirror: list[int] | None = None, fine: bool = False) -> None:
        super().__init__()
        self.settings = {"num_landmarks": num_landmarks, "width": width, "image_size": image_size}
        if fine:
            self.settings["fine"] = True
        if mirror is not None:
            if sorted(mirror) != list(range(num_landmarks)):
                raise ValueError(f"mirror must order the {num_landmarks} landmarks, got {mirror}")
            self.settings["mirror"] = list(mirror)
        self.stem = SameBlock2d(3, width)  # (B, w, S, S), pooled to S/2
        self.down = nn.ModuleList([DownBlock2d(width, 2 * width), DownBlock2d(2 * width, 4 * width)])  # S/4, S/8
        self.up = nn.ModuleList([UpBlock2d(4 * width, 2 * width), UpBlock2d(4 * width, width)])  # S/4, S/2
        head_channels = 2 * width
        if fine:
            self.up.append(UpBlock2d(2 * width, width // 2))  # S
            head_channels = width // 2 + width
        self.head = nn.Conv2d(head_channels, num_landmarks, kernel_size=3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        full = self.stem(images)
        x = F.avg_pool2d(full, kernel_size=2)
        skips = [full, x] if self.settings.get("fine") else [x]  # full resolution: a skip for the third up block
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the deepest scale is x itself
        for block in self.up:
            x = torch.cat([block(x), skips.pop()], dim=1)  # (B, 2C, h, w): upsampled and the skip at that scale
        heatmap = spatial_softmax(self.head(x), temperature=1.0)  # (B, L, S/2 or S, same), each map sums to 1
        normalised = spatial_expectation(heatmap)  # (B, L, 2) in [-1, 1], -1 and 1 on the edge pixels' centres
        return (normalised + 1) / 2 * (images.shape[-1] - 1)  # pixels


@torch.no_grad()
def read_landmarks(detector: LandmarkDetector, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Landmarks ``(T, L, 2)`` float64 pixels ``(x, y)`` of ``images`` ``(T, S, S, 3)`` in [0, 1].

    Images of another side than the detector's are resized to it (bilinear,
    antialiased, pixel centres to pixel centres) and the landmarks mapped back
    the same way; the detector is put in eval mode. A detector with a
    ``mirror`` setting also reads each image flipped left to right, maps those
    landmarks back (x flipped, left and right swapped) and averages the two
    readings: errors that do not follow the flip partly cancel.

    Example:
        >>> read_landmarks(LandmarkDetector(width=4), np.zeros((1, 32, 32, 3), np.float32)).shape
        (1, 13, 2)
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise InputError(f"landmarks are read off square RGB images (T, S, S, 3), got shape {images.shape}")
    detector.eval()
    size, trained = images.shape[1], detector.settings["image_size"]
    found = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).permute(0, 3, 1, 2)
        if size != trained:
            # align_corners=False: with True, torch's antialiased resize shifted the picture (128 -> 64: the
            # landmarks read 0.5 px low at 128; 256 -> 64: 1.6 px)
            batch = F.interpolate(batch, size=(trained, trained), mode="bilinear", align_corners=False, antialias=True)
        points = detector(batch).double()
        if "mirror" in detector.settings:
            flipped = detector(batch.flip(-1)).double()[:, detector.settings["mirror"]]
            flipped[..., 0] = trained - 1 - flipped[..., 0]
            points = (points + flipped) / 2
        found.append((points.numpy() + 0.5) * size / trained - 0.5)
    return np.concatenate(found)


def save_landmark_detector(detector: LandmarkDetector, path: str | Path, card: dict | None = None) -> Path:
    """Write ``detector``'s weights, settings and ``card`` (numbers about its training) to ``path``, atomically.

    The file holds tensors, numbers and strings only: it loads with ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    state = {"state_dict": {k: v.detach().cpu() for k, v in detector.state_dict().items()},
             "settings": dict(detector.settings), "card": dict(card or {})}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def load_landmark_detector(path: str | Path = DETECTOR_PATH) -> LandmarkDetector:
    """The detector stored at ``path`` (default: the shipped one), in eval mode, on the CPU.

    Its training numbers are in ``detector.card`` (a dict). Raises
    :class:`~fomm_nb.errors.CheckpointError` for a missing or unreadable file.

    Example:
        >>> load_landmark_detector().settings["num_landmarks"]
        13
    """
    from ..safe_load import load_checkpoint_file

    state = load_checkpoint_file(path)
    if not isinstance(state.get("settings"), dict) or not isinstance(state.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a landmark detector checkpoint (no 'settings' and 'state_dict')")
    detector = LandmarkDetector(**state["settings"])
    try:
        detector.load_state_dict(state["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: the weights do not fit its settings ({str(error).splitlines()[0]})") from None
    detector.card = state.get("card", {})
    return detector.eval()
