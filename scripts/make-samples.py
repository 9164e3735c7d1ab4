"""Render the demo's bundled samples, fomm_nb/samples/face.png and driving.mp4, from the procedural test split.

The source is the first frame of one held-out video, the driving clip another
held-out video (a different identity), so the demo shows cross-identity
animation on data the bundled model never trained on. Deterministic:

    .venv/bin/python scripts/make-samples.py
"""

from fomm_nb.data import make_video, split_seed
from fomm_nb.media import write_image, write_video
from fomm_nb.registry import SAMPLE_DRIVING, SAMPLE_SOURCE

SOURCE_VIDEO, DRIVING_VIDEO = 1001, 1000  # test-split indices, beyond the 50 videos `fomm-nb evaluate` uses
NUM_FRAMES, FPS = 125, 25


def main():
    write_image(SAMPLE_SOURCE, make_video(split_seed("test", SOURCE_VIDEO), num_frames=1).frames[0])
    write_video(SAMPLE_DRIVING, make_video(split_seed("test", DRIVING_VIDEO), num_frames=NUM_FRAMES).frames, fps=FPS)
    print(f"wrote {SAMPLE_SOURCE} and {SAMPLE_DRIVING} ({NUM_FRAMES} frames at {FPS} fps)")


if __name__ == "__main__":
    main()
