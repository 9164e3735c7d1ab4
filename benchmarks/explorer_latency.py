"""Keypoint explorer latency: from a mouse move to the new pictures, as the app computes them.

A :class:`~fomm_nb.widgets.KeypointExplorer` is built in this process and
fed the messages a browser sends while a keypoint is dragged (ipyevents'
``mousedown``, ``mousemove`` ..., ``mouseup``). For each move it times the
handler: keypoints redrawn, heatmaps, masks, flow, occlusion, warped source
and, when the model is fast enough to predict live, the prediction, each
encoded as the image the browser receives. For a model too slow to predict
live (vox-256), the prediction follows in a worker thread after the mouse
rests: that time is printed too. The browser adds its own drawing and the
round trip through the kernel (``tests/test_browser.py`` drives a real one).

    .venv/bin/python benchmarks/explorer_latency.py                 # bundled model and vox-256
    .venv/bin/python benchmarks/explorer_latency.py --models small --moves 40
"""

import argparse
import statistics
import time

import numpy as np

from common import load_benchmark_model, machine, synthetic_clip
from fomm_nb.widgets import KeypointExplorer

BUDGET_MS = 150  # the bar for the bundled model: the new prediction within 150 ms of a drag


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
    label, model = load_benchmark_model(name)
    source, frames = synthetic_clip(model.image_size, 4)
    explorer = KeypointExplorer(model, source, np.stack(list(frames)))
    start, path = drag_path(explorer, 0, moves)
    send(explorer, type="mousedown", dataX=float(start[0]), dataY=float(start[1]))
    seconds = []
    for x, y in path:
        began = time.perf_counter()
        send(explorer, type="mousemove", dataX=float(x), dataY=float(y))
        seconds.append(time.perf_counter() - began)
    send(explorer, type="mouseup", dataX=float(path[-1][0]), dataY=float(path[-1][1]))
    live = explorer.live_prediction
    rested = time.perf_counter()
    explorer.wait_for_prediction()
    background = time.perf_counter() - rested
    median, worst = 1e3 * statistics.median(seconds), 1e3 * max(seconds)
    shown = "every panel and the prediction" if live else "every panel but the prediction (it follows when the mouse rests)"
    print(f"\n== {label}: {model.image_size}x{model.image_size}, {moves} moves of a dragged keypoint")
    print(f"a move to {shown}: median {median:.1f} ms, worst {worst:.1f} ms")
    if live:
        verdict = "within" if median <= BUDGET_MS else "OVER"
        print(f"{verdict} the {BUDGET_MS} ms budget for a new prediction after a drag")
    else:
        print(f"prediction after the mouse rests: {1e3 * background:.0f} ms "
              f"(a {1e3 * explorer.prediction_delay:.0f} ms pause, then the generator in a worker thread)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "vox"], choices=["small", "vox"])
    parser.add_argument("--moves", type=int, default=25)
    args = parser.parse_args()
    print(machine())
    for name in args.models:
        measure(name, args.moves)


if __name__ == "__main__":
    main()
