"""Pictures of training: a batch (source, driving, prediction with keypoints, masks, occlusion), and a
trained model's keypoints on held-out procedural videos (the model card's figure).

Example:
    >>> figure = keypoint_sheet(model, num_videos=3)  # doctest: +SKIP
    >>> figure.savefig("checkpoints/fomm-nb-faces-keypoints.png")  # doctest: +SKIP
"""

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..model import FirstOrderModel

__all__ = ["training_figure", "keypoint_sheet"]


def _image(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().permute(1, 2, 0).clamp(0, 1).cpu().numpy()


def _pixels(value: torch.Tensor, size: int) -> np.ndarray:
    return (value.detach().cpu().numpy() + 1) / 2 * (size - 1)


def training_figure(batch: Mapping[str, Any], rows: int = 4) -> Figure:
    """A Figure with one row per item: source+kp, driving+kp, prediction, mask argmax, occlusion.

    ``batch`` holds ``source``, ``driving`` ``(B, 3, H, W)``, ``kp_source``,
    ``kp_driving`` and the generator's ``prediction``, ``mask``, ``occlusion_map``.
    """
    rows = min(rows, batch["source"].shape[0])
    size = batch["source"].shape[-1]
    columns = ["source", "driving", "prediction", "mask", "occlusion_map"]
    figure, axes = plt.subplots(rows, len(columns), figsize=(2 * len(columns), 2 * rows), squeeze=False)
    num_kp = batch["kp_source"]["value"].shape[1]
    colours = plt.get_cmap("gist_rainbow")(np.linspace(0, 1, num_kp))
    for row in range(rows):
        for column, name in enumerate(columns):
            ax = axes[row, column]
            ax.axis("off")
            if row == 0:
                ax.set_title(name.replace("_", " "), fontsize=9)
            if name == "mask":
                ax.imshow(batch["mask"][row].argmax(0).cpu().numpy(), cmap="tab20", vmin=0, vmax=num_kp)
            elif name == "occlusion_map" and "occlusion_map" in batch:
                ax.imshow(batch["occlusion_map"][row, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            elif name != "occlusion_map":
                ax.imshow(_image(batch[name][row]))
            kp_name = {"source": "kp_source", "driving": "kp_driving", "prediction": "kp_driving"}.get(name)
            if kp_name:
                points = _pixels(batch[kp_name]["value"][row], size)
                ax.scatter(points[:, 0], points[:, 1], c=colours, s=12)
    figure.tight_layout()
    return figure


def keypoint_sheet(
    model: FirstOrderModel,
    num_videos: int = 4,
    frame_indices: Sequence[int] = (0, 6, 12, 18, 24, 30),
    panel: float = 1.6,
) -> Figure:
    """A Figure: one row per held-out procedural test video, its frames with the detected keypoints.

    Colours name keypoints, so a keypoint that follows a part keeps its colour on that part.
    """
    from ..data.procedural import make_video, split_seed
    from ..plotting import plot_keypoints

    num_frames = max(frame_indices) + 1
    figure, axes = plt.subplots(num_videos, len(frame_indices), figsize=(panel * len(frame_indices), panel * num_videos),
                                squeeze=False)
    plt.close(figure)
    model.eval()
    for row in range(num_videos):
        frames = make_video(split_seed("test", row), num_frames, model.image_size).frames[list(frame_indices)]
        with torch.no_grad():
            kp = model.kp_detector(torch.from_numpy(frames).permute(0, 3, 1, 2).to(model.device))
        for column, ax in enumerate(axes[row]):
            plot_keypoints(frames[column], kp["value"][column].cpu().numpy(), ax=ax, labels=False)
            if row == 0:
                ax.set_title(f"frame {frame_indices[column]}", fontsize=8)
    figure.tight_layout()
    return figure
