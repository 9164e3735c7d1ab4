"""Smoothing against ground truth: each filter and none, on clean and on webcam-degraded driving frames.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/smoothing.py            # the README table: 50 held-out videos
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/smoothing.py --sweep    # how the defaults were chosen (fewer videos)

The bars (issue 15): the default filter (``DEFAULT_SMOOTHING``, chosen from
this table) cuts the jitter of the animated landmarks on degraded frames by at
least 50%, and worsens reconstruction L1 and AKD on clean frames by at most
2%. The causal filter of the live camera (``CAUSAL_SMOOTHING``) is measured
against the same bars.
"""

import argparse
import itertools
import time

import torch

from common import machine  # also puts the project on the path
from fomm_nb.hub import get_model
from fomm_nb.tracks import CAUSAL_SMOOTHING, DEFAULT_SMOOTHING, Kalman, OneEuro, SavitzkyGolay
from fomm_nb.tracks.evaluation import DEFAULT_FILTERS, evaluate_smoothing, format_smoothing_table

#: The candidates ``--sweep`` measures.
SWEEP = {
    **{f"one-euro {c:g} Hz, beta {b:g}": OneEuro(min_cutoff=c, beta=b) for c, b in itertools.product((0.5, 1, 2, 4), (2, 8, 32))},
    **{f"kalman a={a:g}, m={m:g}": Kalman(acceleration=a, measurement=m) for a, m in itertools.product((2, 8, 32), (0.01, 0.03))},
    **{f"savgol {w}": SavitzkyGolay(window=w) for w in (5, 7, 9, 11)},
}


def bars(report, name=DEFAULT_SMOOTHING):
    """The acceptance figures of filter ``name`` (by default the one ``--smooth`` picks)."""
    rows = report["rows"]
    cut = 1 - rows["degraded"][name]["jitter"] / rows["degraded"]["none"]["jitter"]
    l1 = rows["clean"][name]["l1"] / rows["clean"]["none"]["l1"] - 1
    akd = rows["clean"][name]["akd"] / rows["clean"]["none"]["akd"] - 1
    return (f"{name}: degraded jitter cut {cut:.1%} (bar >= 50%); clean L1 {l1:+.2%}, AKD {akd:+.2%} (bar <= +2%): "
            f"{'PASS' if cut >= 0.5 and l1 <= 0.02 and akd <= 0.02 else 'FAIL'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--sweep", action="store_true", help="measure the candidate parameters instead")
    args = parser.parse_args()
    start = time.perf_counter()
    filters = {"none": None, **SWEEP} if args.sweep else DEFAULT_FILTERS
    with torch.inference_mode():
        report = evaluate_smoothing(get_model("demo"), filters, num_videos=args.videos, num_frames=args.frames,
                                    progress=True)
    print(format_smoothing_table(report))
    if not args.sweep:
        print(bars(report), "(the default of smooth() and a bare --smooth)")
        print(bars(report, CAUSAL_SMOOTHING), "(the causal filter of the live camera)")
    print(f"{time.perf_counter() - start:.0f} s on {machine()}")


if __name__ == "__main__":
    main()
