"""Keypoint explorer: the time and the CPU of one update, where that CPU goes, and what a busy server skips.

A :class:`~fomm_nb.widgets.KeypointExplorer` is built in this process and
fed the messages a browser sends while a keypoint is dragged (ipyevents'
``mousedown``, ``mousemove`` ..., ``mouseup``). Its widgets talk through a
comm that serializes every message as a kernel does (a signed Jupyter
message, JSON and binary buffers; only the socket write is left out), so
the CPU of the widget messages is counted too.

* **One update per move**: each move is drawn before the next is sent. It
  prints the wall time and the CPU time (all threads) of an update, the
  explorer's own breakdown (``timings``: keypoints drawn, model, pictures,
  encoding, widget messages), and the messages and bytes sent per update.
* **A burst**: all moves arrive at once, as they queue on a server that fell
  behind; it prints how many updates were drawn and when the last move was on screen.

``--baseline REV`` measures the explorer of git revision ``REV`` too (its
``fomm_nb`` from ``git archive``, in a child process), in alternating rounds
with the working tree's, so that both figures come from the same run.
The browser adds its own drawing and the round trip through the server
(``tests/test_browser.py``, ``benchmarks/classroom.py``).

    .venv/bin/python benchmarks/explorer_latency.py                 # bundled model and vox-256
    .venv/bin/python benchmarks/explorer_latency.py --models small --baseline HEAD~3
"""

import os
import sys

if os.environ.get("FOMM_NB_TREE"):  # a --baseline child: that revision's fomm_nb, before common imports one
    sys.path.insert(0, os.environ["FOMM_NB_TREE"])
    import fomm_nb  # noqa: F401

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

import comm
import numpy as np
from comm.base_comm import BaseComm
from jupyter_client.session import Session

from common import baseline_tree, load_benchmark_model, machine, synthetic_clip
from fomm_nb.widgets import KeypointExplorer

BUDGET_MS = 150  # the bar for the bundled model: the new prediction within 150 ms of a drag
STAGES = ("keypoints", "model", "pictures", "encode", "send")


class SerializingComm(BaseComm):
    """A comm that builds and serializes each message as ipykernel does, and counts them (nothing is sent)."""

    session = Session(key=b"benchmark")
    messages = 0
    bytes = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        content = {"data": data or {}, "comm_id": self.comm_id, **keys}
        message = self.session.msg(msg_type, content=content, metadata=metadata or {})
        frames = self.session.serialize(message) + [bytes(buffer) for buffer in buffers or []]
        SerializingComm.messages += 1
        SerializingComm.bytes += sum(len(frame) for frame in frames)


def send(explorer, **message):
    """Deliver ``message`` to the ipyevents widget that watches its type, as the front end does."""
    for event in explorer.mouse_events:
        if message["type"] in event.watched_events:
            event._handle_custom_msg(message, [])


def drag_path(explorer, k, moves):
    """Display pixels of a circular drag of keypoint ``k``: ``moves`` points, 12 % of the image away."""
    start = (explorer.editor.value[0, k].numpy() + 1) / 2 * (explorer.display_size - 1)
    angles = np.linspace(0, 2 * np.pi, moves, endpoint=False)
    radius = 0.12 * explorer.display_size
    return start, start + radius * np.stack([np.sin(angles), 1 - np.cos(angles)], axis=1)


def measure(name, moves):
    """The figures of one explorer (this process's ``fomm_nb``) as a dict."""
    comm.create_comm = SerializingComm
    label, model = load_benchmark_model(name)
    source, frames = synthetic_clip(model.image_size, 4)
    explorer = KeypointExplorer(model, source, np.stack(list(frames)))
    settle = explorer.wait_for_prediction
    explorer.coalesce = False  # one update per move, drawn in the handler
    explorer.sync_prediction = True  # the same work in every run, however loaded the machine
    start, path = drag_path(explorer, 0, moves)
    send(explorer, type="mousedown", dataX=float(start[0]), dataY=float(start[1]))
    walls, cpus, stages = [], [], {stage: [] for stage in STAGES}
    messages, sent = SerializingComm.messages, SerializingComm.bytes
    for x, y in path:  # one update per move
        wall, cpu = time.perf_counter(), time.process_time()
        send(explorer, type="mousemove", dataX=float(x), dataY=float(y))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        for stage in STAGES:
            stages[stage].append(getattr(explorer, "timings", {}).get(stage, float("nan")))
    messages, sent = (SerializingComm.messages - messages) / moves, (SerializingComm.bytes - sent) / moves
    send(explorer, type="mouseup", dataX=float(path[-1][0]), dataY=float(path[-1][1]))
    rested = time.perf_counter()
    settle()
    background = time.perf_counter() - rested

    explorer.coalesce = True  # the burst: every move queued at once
    workers = getattr(explorer, "updates", None)
    ran = workers.ran if workers else 0
    send(explorer, type="mousedown", dataX=float(path[-1][0]), dataY=float(path[-1][1]))
    burst = time.perf_counter()
    for x, y in path[::-1]:
        send(explorer, type="mousemove", dataX=float(x), dataY=float(y))
    settle()
    burst = time.perf_counter() - burst
    drawn = workers.ran - ran if workers else moves
    return {"label": label, "size": model.image_size, "moves": moves, "live": explorer.live_prediction,
            "wall_ms": 1e3 * statistics.median(walls), "worst_ms": 1e3 * max(walls),
            "cpu_ms": 1e3 * statistics.median(cpus), "messages": messages, "kilobytes": sent / 1e3,
            "stages": {stage: statistics.median(values) for stage, values in stages.items()},
            "background_ms": 1e3 * background, "prediction_delay_ms": 1e3 * explorer.prediction_delay,
            "burst_ms": 1e3 * burst, "burst_drawn": drawn}


def in_child(name, moves, tree=None):
    """:func:`measure` in a fresh interpreter (``tree``: another ``fomm_nb``); its dict."""
    env = {**os.environ, **({"FOMM_NB_TREE": str(tree)} if tree else {})}
    result = subprocess.run([sys.executable, __file__, "--child", name, "--moves", str(moves)],
                            capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(title, figures):
    print(f"\n== {title}: {figures['label']}, {figures['size']}x{figures['size']}, {figures['moves']} moves")
    shown = "every panel and the prediction" if figures["live"] else "every panel but the prediction"
    print(f"one update per move ({shown}): wall {figures['wall_ms']:.1f} ms (worst {figures['worst_ms']:.1f}), "
          f"CPU {figures['cpu_ms']:.1f} ms (all threads)")
    stages = figures["stages"]
    if not np.isnan(stages["model"]):
        print("  CPU by stage: " + ", ".join(f"{stage} {stages[stage]:.1f}" for stage in STAGES) + " ms")
    print(f"  widget messages per update: {figures['messages']:.1f}, {figures['kilobytes']:.1f} kB")
    if figures["live"]:
        verdict = "within" if figures["wall_ms"] <= BUDGET_MS else "OVER"
        print(f"  {verdict} the {BUDGET_MS} ms budget for a new prediction after a drag")
    else:
        print(f"  prediction after the mouse rests: {figures['background_ms']:.0f} ms "
              f"(a {figures['prediction_delay_ms']:.0f} ms pause, then the generator)")
    print(f"a burst of {figures['moves']} queued moves: {figures['burst_drawn']} updates drawn, "
          f"the last move on screen after {figures['burst_ms']:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "vox"], choices=["small", "vox"])
    parser.add_argument("--moves", type=int, default=25)
    parser.add_argument("--baseline", metavar="REV", help="also measure the explorer of this git revision")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds with --baseline")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.moves)))
        return
    print(machine())
    tree = baseline_tree(args.baseline) if args.baseline else None
    for name in args.models:
        if tree is None:
            report("working tree", in_child(name, args.moves))
            continue
        runs = {"before": [], "after": []}
        for _ in range(args.rounds):
            runs["before"].append(in_child(name, args.moves, tree))
            runs["after"].append(in_child(name, args.moves))
        for when, label in (("before", args.baseline), ("after", "working tree")):
            best = min(runs[when], key=lambda figures: figures["cpu_ms"])
            report(f"{label} (the best of {args.rounds} alternating rounds)", best)
        ratio = statistics.median(b["cpu_ms"] / a["cpu_ms"] for b, a in zip(runs["before"], runs["after"]))
        print(f"\nCPU per update, {args.baseline} / working tree: {ratio:.2f}x (median of rounds)")


if __name__ == "__main__":
    main()
