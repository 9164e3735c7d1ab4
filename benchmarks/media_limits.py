"""Memory at the limits fomm-nb accepts: the largest source picture, and a long video at the largest batch.

fomm-nb refuses a picture over ``fomm_nb.media.MAX_PIXELS`` and a batch whose
frames would not fit in free memory (``fomm_nb.arguments.check_batch_memory``).
This checks that what it accepts stays within what it promises, each case in a
fresh process, peak resident memory measured above the loaded model:

1. a source picture just under the pixel budget (a smooth 8000x6000 PNG,
   48 megapixels) read and fitted to the model, as ``fomm-nb animate`` does;
2. a 3,000-frame driving video animated by the bundled model with
   ``animate_files`` at the default batch, at the largest batch the memory
   check accepts (capped at the video's length), and the default batch on a
   third of the video, to show that memory does not grow with the length.

Each row prints the peak and the bound it should stay under: for the
picture, 2.5x its float32 size (decoded bytes, float copy, fitted copy); for
a batch, the check's own estimate (batch x BYTES_PER_PIXEL x pixels) plus
:data:`STREAMS_MB` for what reading and writing the videos hold whatever the
batch (ffmpeg's pipes and the encoder: about 30 MB measured at batch 4).

    .venv/bin/python benchmarks/media_limits.py
    .venv/bin/python benchmarks/media_limits.py --frames 600
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import BUNDLED, PeakMemory, in_fresh_process, machine
from fomm_nb.arguments import BYTES_PER_PIXEL, available_memory
from fomm_nb.config import DEFAULT_BATCH_SIZE
from fomm_nb.media import fit_frame, read_image, write_image, write_video
from fomm_nb.media.files import MAX_PIXELS

PICTURE = (6000, 8000)  # height, width: 48 megapixels, under the budget
STREAMS_MB = 64


def _picture_peak(path):
    with PeakMemory() as memory:
        fit_frame(read_image(path), 64)
    return memory.peak_mb


def _video_peak(source, driving, batch_size):
    from fomm_nb import load_model
    from fomm_nb.pipeline import animate_files

    model = load_model(None, BUNDLED, device="cpu")
    with PeakMemory() as memory, tempfile.TemporaryDirectory() as folder:
        animate_files(model, source, driving, Path(folder) / "out.mp4", batch_size=batch_size)
    return memory.peak_mb


def _write_inputs(folder, frames):
    """A smooth 48-megapixel PNG, a 64x64 source and a ``frames``-long 64x64 driving video in ``folder``."""
    height, width = PICTURE
    ramp_y, ramp_x = np.linspace(0, 1, height, dtype=np.float32), np.linspace(0, 1, width, dtype=np.float32)
    picture = np.stack([ramp_y[:, None] * np.ones_like(ramp_x), ramp_x[None] * np.ones_like(ramp_y)[:, None],
                        np.full((height, width), 0.5, np.float32)], -1)
    write_image(folder / "large.png", picture)
    del picture
    rng = np.random.default_rng(0)
    write_image(folder / "face.png", rng.random((64, 64, 3)))
    t = np.arange(frames, dtype=np.float32)[:, None, None, None]
    grid = np.linspace(0, 1, 64, dtype=np.float32)
    base = np.stack(np.broadcast_arrays(grid[None, :, None], grid[None, None, :], np.float32(0.5)), -1)
    for name, length in (("long.mp4", frames), ("short.mp4", frames // 3)):
        write_video(folder / name, (base + 0.1 * np.sin(t[:length] / 10)).clip(0, 1), fps=25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="length of the long driving video")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        peak = _picture_peak(rest[0]) if kind == "picture" else _video_peak(rest[0], rest[1], int(rest[2]))
        print(json.dumps({"peak_mb": peak}))
        return
    print(machine())
    height, width = PICTURE
    per_frame = BYTES_PER_PIXEL * 64 * 64
    largest = int(min(args.frames, available_memory(__import__("torch").device("cpu")) // per_frame))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _write_inputs(folder, args.frames)
        peak = in_fresh_process(__file__, "--child", "picture", folder / "large.png")["peak_mb"]
        bound = 2.5 * height * width * 3 * 4 / 2**20
        print(f"picture {width}x{height} ({height * width / 1e6:.0f} MP, budget {MAX_PIXELS / 1e6:.0f} MP): "
              f"peak {peak:.0f} MB, bound {bound:.0f} MB -> {'within' if peak <= bound else 'OVER'}")
        for video, frames, batch in (("short.mp4", args.frames // 3, DEFAULT_BATCH_SIZE),
                                     ("long.mp4", args.frames, DEFAULT_BATCH_SIZE), ("long.mp4", args.frames, largest)):
            peak = in_fresh_process(__file__, "--child", "video", folder / "face.png", folder / video, batch)["peak_mb"]
            bound = batch * per_frame / 2**20 + STREAMS_MB
            print(f"video {frames} frames of 64x64, bundled model, batch {batch}: peak {peak:.0f} MB, "
                  f"bound {bound:.0f} MB (the check's estimate + {STREAMS_MB}) -> {'within' if peak <= bound else 'OVER'}")


if __name__ == "__main__":
    sys.exit(main())
