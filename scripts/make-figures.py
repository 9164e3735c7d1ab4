"""Draw the bundled model's pictures: the README's docs/demo.png and docs/tracks.png, and the model card's
checkpoints/keypoints.png.

docs/demo.png shows three moments of the demo's side-by-side video (source |
driving | result); docs/tracks.png the keypoint paths of a held-out video seen
through a webcam, before and after One-Euro smoothing;
checkpoints/keypoints.png the learned keypoints on held-out procedural
videos. Run after retraining the bundled model:

    .venv/bin/python scripts/make-figures.py
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fomm_nb.animate import AnimationEngine
from fomm_nb.data import make_video
from fomm_nb.demo import run_demo
from fomm_nb.hub import get_model
from fomm_nb.media import read_video, write_image
from fomm_nb.plotting import plot_trajectories
from fomm_nb.tracks import smooth
from fomm_nb.tracks.evaluation import degrade_like_webcam
from fomm_nb.train.visualise import keypoint_sheet

ROOT = Path(__file__).resolve().parents[1]
DEMO_PICTURE = ROOT / "docs" / "demo.png"
KEYPOINT_PICTURE = ROOT / "checkpoints" / "keypoints.png"
TRACK_PICTURE = ROOT / "docs" / "tracks.png"
MOMENTS = (0.15, 0.5, 0.85)  # where in the demo video the rows of demo.png are taken


def main():
    with tempfile.TemporaryDirectory() as folder:
        frames, _ = read_video(run_demo(folder, device="cpu")["side_by_side"])
    rows = [frames[int(moment * (len(frames) - 1))] for moment in MOMENTS]
    write_image(DEMO_PICTURE, np.concatenate(rows, axis=0))
    model = get_model("demo", device="cpu")
    figure = keypoint_sheet(model, num_videos=4)
    figure.savefig(KEYPOINT_PICTURE, dpi=90)
    plt.close(figure)
    clip = make_video(seed=1_000_004, num_frames=96, size=model.image_size)  # a held-out test video
    track = AnimationEngine(model).track(degrade_like_webcam(clip.frames, np.random.default_rng(0)), fps=25.0)
    figure = plot_trajectories(track, smooth(track, "one-euro"), image=clip.frames[0])
    figure.savefig(TRACK_PICTURE, dpi=80, bbox_inches="tight")
    print(f"wrote {DEMO_PICTURE}, {TRACK_PICTURE} and {KEYPOINT_PICTURE}")


if __name__ == "__main__":
    main()
