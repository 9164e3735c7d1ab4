"""The bundled model against its acceptance bars: evaluation, demo wall time, training wall time.

Not a test: it prints figures and says which bars they meet. The evaluation is
``fomm-nb evaluate``'s (held-out procedural videos, rendered ground truth); the
demo is the console script run as a user runs it, with an empty download cache;
the training time is read off a run folder's ``log.csv`` when ``--run`` names one.

    .venv/bin/python benchmarks/bundled_model.py
    .venv/bin/python benchmarks/bundled_model.py --model runs/faces/model.pth.tar --run runs/faces --no-demo
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import machine
from fomm_nb.evaluate import evaluate, format_report
from fomm_nb.hub import get_model

DEMO_BUDGET_S = 60
TRAINING_BUDGET_S = 2 * 3600


def demo_seconds():
    """Wall time of ``fomm-nb demo`` in a fresh process with an empty download cache."""
    with tempfile.TemporaryDirectory() as folder:
        environment = {**os.environ, "FOMM_NB_HOME": str(Path(folder) / "empty-cache")}
        command = [str(Path(sys.executable).with_name("fomm-nb")), "demo", "--out", str(Path(folder) / "out")]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=environment)
        return time.perf_counter() - start


def training_seconds(run_folder):
    """(steps, seconds) of the last row of ``run_folder/log.csv``."""
    with open(Path(run_folder) / "log.csv") as handle:
        last = list(csv.DictReader(handle))[-1]
    return int(last["step"]), float(last["seconds"])


def verdict(passed):
    return "meets the bar" if passed else "MISSES the bar"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo", help="model name or checkpoint (default: the bundled model)")
    parser.add_argument("--videos", type=int, default=50, help="held-out videos to evaluate on")
    parser.add_argument("--run", help="training run folder whose log.csv gives the training time")
    parser.add_argument("--no-demo", action="store_true", help="skip timing `fomm-nb demo` (it always uses the bundled model)")
    args = parser.parse_args()
    print(machine())

    model = get_model(args.model)  # outside inference mode: the engine keys its cache on version counters
    with torch.inference_mode():
        print(format_report(evaluate(model, num_videos=args.videos, progress=True)))
    if not args.no_demo:
        seconds = demo_seconds()
        print(f"\nfomm-nb demo: {seconds:.1f} s wall (budget {DEMO_BUDGET_S} s): {verdict(seconds < DEMO_BUDGET_S)}")
    if args.run:
        steps, seconds = training_seconds(args.run)
        print(f"\ntraining ({args.run}): {steps} steps in {seconds:.0f} s = {seconds / 60:.0f} min, "
              f"{seconds / steps:.2f} s/step (budget {TRAINING_BUDGET_S // 60} min): {verdict(seconds <= TRAINING_BUDGET_S)}")


if __name__ == "__main__":
    main()
