"""Draw the bundled model's pictures: the README's docs/demo.png and the model card's checkpoints/keypoints.png.

docs/demo.png shows three moments of the demo's side-by-side video (source |
driving | result); checkpoints/keypoints.png the learned keypoints on
held-out procedural videos. Run after retraining the bundled model:

    .venv/bin/python scripts/make-figures.py
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fomm_nb.demo import run_demo
from fomm_nb.hub import get_model
from fomm_nb.media import read_video, write_image
from fomm_nb.train.visualise import keypoint_sheet

ROOT = Path(__file__).resolve().parents[1]
DEMO_PICTURE = ROOT / "docs" / "demo.png"
KEYPOINT_PICTURE = ROOT / "checkpoints" / "keypoints.png"
MOMENTS = (0.15, 0.5, 0.85)  # where in the demo video the rows of demo.png are taken


def main():
    with tempfile.TemporaryDirectory() as folder:
        frames, _ = read_video(run_demo(folder, device="cpu")["side_by_side"])
    rows = [frames[int(moment * (len(frames) - 1))] for moment in MOMENTS]
    write_image(DEMO_PICTURE, np.concatenate(rows, axis=0))
    figure = keypoint_sheet(get_model("demo", device="cpu"), num_videos=4)
    figure.savefig(KEYPOINT_PICTURE, dpi=90)
    plt.close(figure)
    print(f"wrote {DEMO_PICTURE} and {KEYPOINT_PICTURE}")


if __name__ == "__main__":
    main()
