"""``fomm-nb demo``: the bundled model animates the bundled sample, offline, in seconds.

Writes to the output folder: ``result.mp4`` (the animation), ``side_by_side.mp4``
(source | driving | result), ``keypoints.png`` (the learned keypoints and
their Jacobians on the source and a few driving frames) and ``index.html``,
a page that plays the videos in a browser.

Example:
    >>> paths = run_demo("fomm-nb-output")  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['keypoints', 'page', 'result', 'side_by_side']
"""

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .animate import AnimationEngine
from .hub import get_model
from .media import fit_frame, read_image, read_video
from .model import FirstOrderModel
from .outputs import Output, check_outputs, write_text_atomically
from .pipeline import animate_files
from .plotting import keypoint_figure
from .plotting.videos import caption_row
from .registry import SAMPLE_DRIVING, SAMPLE_SOURCE, SAMPLES  # noqa: F401 (SAMPLES: importable here as before)

__all__ = ["keypoint_snapshot", "run_demo", "DEMO_FILES"]

#: What the demo writes into its folder.
DEMO_FILES = ("result.mp4", "side_by_side.mp4", "keypoints.png", "index.html")

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>fomm-nb demo</title><link rel="icon" href="data:,">
<style>body{{font-family:sans-serif;margin:2em}} video{{image-rendering:pixelated;width:768px}}</style></head>
<body><h1>fomm-nb demo</h1>
<p>The bundled model animates the source by the driving video (relative motion).</p>
<figure style="margin:0;width:768px">{captions}<video src="side_by_side.mp4" controls autoplay loop muted></video></figure>
<h2>Learned keypoints</h2><img src="keypoints.png" alt="keypoints">
</body></html>
"""


def keypoint_snapshot(
    model: FirstOrderModel, source: np.ndarray, frames: Sequence[np.ndarray], path: str | os.PathLike, count: int = 4
) -> Path:
    """Save a figure of the keypoints and Jacobians on ``source`` and ``count`` of ``frames``."""
    engine = AnimationEngine(model)
    step = max(1, len(frames) // count)
    images = [source, *frames[::step][:count]]
    kp = engine.detect(images)
    figure = keypoint_figure(
        images,
        kp["value"].cpu().numpy(),
        kp["jacobian"].cpu().numpy() if "jacobian" in kp else None,
        titles=["source"] + [f"driving {t}" for t in range(0, step * count, step)],
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def run_demo(
    out_dir: str | os.PathLike = "fomm-nb-output", device: str | torch.device | None = None, model: str = "demo"
) -> dict[str, Path]:
    """Animate the bundled sample with ``model``; returns a dict of the written paths.

    Raises :class:`~fomm_nb.errors.OutputError` before any work when ``out_dir`` is a file or cannot be written.
    """
    check_outputs([Output("out_dir", out_dir, files=DEMO_FILES)], {"model": model})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    network = get_model(model, device=device)
    result = animate_files(
        network, SAMPLE_SOURCE, SAMPLE_DRIVING, out_dir / "result.mp4",
        side_by_side_path=out_dir / "side_by_side.mp4", progress=True,
    )
    size = network.image_size
    frames, _ = read_video(SAMPLE_DRIVING)
    fitted = [fit_frame(frame, size) for frame in frames]
    keypoints = keypoint_snapshot(network, fit_frame(read_image(SAMPLE_SOURCE), size), fitted, out_dir / "keypoints.png")
    captions = caption_row(["source", "driving", "result"], [1, 1, 1])  # HTML over the video: no text in its frames
    page = write_text_atomically(out_dir / "index.html", _PAGE.format(captions=captions))
    return {"result": result.video, "side_by_side": result.side_by_side, "keypoints": keypoints, "page": page}
