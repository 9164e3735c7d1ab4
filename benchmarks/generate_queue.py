"""Several students press Generate at once: what each waits for, with the fair queue and without it.

Each student is a process (as a kernel of ``fomm-nb serve`` is), with one
torch thread (as served kernels have), that animates the bundled sample by the
bundled model with :func:`fomm_nb.pipeline.animate_files`, the try-it app's
work. All press together (a barrier); the script prints, per student, when
the result came (seconds from the press) and, with the queue, how long it was
queued. "alone" is one student on an idle machine, in the same run.

Modes: ``none`` (all run at once, as before the queue), ``queue`` (the
machine-wide :class:`~fomm_nb.widgets.generate_queue.GenerateQueue` with its
default slots: cores / torch threads).

    .venv/bin/python benchmarks/generate_queue.py --students 4
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def student(mode, queue_dir, barrier, results, index):
    import torch

    torch.set_num_threads(1)
    from fomm_nb.hub import get_model
    from fomm_nb.pipeline import animate_files
    from fomm_nb.registry import SAMPLE_DRIVING, SAMPLE_SOURCE
    from fomm_nb.widgets.generate_queue import GenerateQueue

    model = get_model("demo", device="cpu")
    out = Path(tempfile.mkdtemp(prefix=f"student-{index}-"))
    queue = GenerateQueue(queue_dir)
    barrier.wait()
    pressed = time.perf_counter()
    started = pressed
    positions = []

    def run():
        nonlocal started
        started = time.perf_counter()
        animate_files(model, SAMPLE_SOURCE, SAMPLE_DRIVING, out / "result.mp4", side_by_side_path=out / "sbs.mp4")

    if mode == "queue":
        with queue.turn(on_wait=positions.append):
            run()
    else:
        run()
    done = time.perf_counter()
    results[index] = (done - pressed, started - pressed, max(positions, default=0), queue.slots)


def trial(mode, students):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(students), context.Manager().dict()
    queue_dir = tempfile.mkdtemp(prefix="queue-")
    processes = [context.Process(target=student, args=(mode, queue_dir, barrier, results, i)) for i in range(students)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return [results[i] for i in range(students)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.students} students, one torch thread each; the bundled model, "
          "the bundled sample (125 frames at 64x64) with its side-by-side video")
    alone = trial("none", 1)[0][0]
    print(f"alone: {alone:.1f} s")
    for mode in ("none", "queue"):
        rows = sorted(trial(mode, args.students))
        finished = [row[0] for row in rows]
        queued = [row[1] for row in rows]
        print(f"{mode:>5}: result after " + ", ".join(f"{seconds:.1f}" for seconds in finished) +
              f" s (mean {statistics.mean(finished):.1f}, {statistics.mean(finished) / alone:.1f}x alone; "
              f"last {max(finished):.1f}, {max(finished) / alone:.1f}x)" +
              (f"; queued {', '.join(f'{s:.1f}' for s in queued)} s, longest place shown "
               f"{max(row[2] for row in rows)}, slots {rows[0][3]}" if mode == "queue" else ""))


if __name__ == "__main__":
    main()
