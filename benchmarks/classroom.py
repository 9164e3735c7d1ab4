"""Classroom capacity: ``fomm-nb serve`` on 127.0.0.1 and N students who speak Voila's protocol.

Each simulated student does what a browser does, without drawing anything:

1. opens the page over HTTP (Voila gives it a kernel that has already run the page);
2. connects to the kernel's websocket and asks for every widget's state
   (the ``jupyter.widget.control`` comm, as the widget manager does): the app
   is there when the state holds the ``fomm-app`` box (page ready);
3. drags a keypoint in the explorer: a ``mousedown`` on the main image, then
   ``mousemove`` messages in a circle, sent at the interval the explorer asks
   of ipyevents (the Event widget's ``wait``, which the app adapts to its
   update time), as a throttled browser sends them whether or not the kernel
   keeps up.

A move is answered when the kernel sends the prediction image that follows
it: the latency is the time from the move whose keypoint drawing arrived
last to that prediction. All students start together (the class arrives at
once); everything is bounded in time, loopback only, and ``fomm-nb serve``
(our child, by PID) is stopped at the end with its kernels.

Printed per class size: page ready (median, p95, max), pages without their
app, pages with warnings, drag -> prediction latency (p50, p95, max),
prediction updates per second per student, and the kernels' CPU (cores, and
ms per update) and memory.

    .venv/bin/python benchmarks/classroom.py --students 1 8 16 24
    .venv/bin/python benchmarks/classroom.py --students 16 --drag-seconds 60
"""

import argparse
import asyncio
import json
import math
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from common import machine

ROOT = Path(__file__).resolve().parents[1]
APP_CLASS = "fomm-app"
MAIN, PREDICTION = "fomm-explorer-main", "fomm-explorer-prediction"
PAGE_TIMEOUT = 120.0  # seconds a student waits for the page and its app
READY_TIMEOUT = 900.0  # seconds for fomm-nb serve to have the class's kernels ready
RADIUS, STEP_DEGREES = 40.0, 4.0  # the drag: a circle on the 320-px main image
WARNINGS = re.compile(r"database is locked|Warning|Traceback|Error", re.IGNORECASE)


@dataclass
class Student:
    """What one simulated student saw."""

    page_ready: float = math.nan
    has_app: bool = False
    warnings: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    predictions: int = 0
    moves: int = 0
    error: str = ""


def _message(msg_type, content, channel="shell", metadata=None, session=""):
    return {"header": {"msg_id": uuid.uuid4().hex, "username": "student", "session": session, "msg_type": msg_type,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": metadata or {}, "content": content, "channel": channel, "buffers": []}


def _decode(frame):
    """A kernel message from a websocket frame (text JSON, or jupyter_server's binary framing with buffers)."""
    if isinstance(frame, str):
        return json.loads(frame)
    count = struct.unpack("!I", frame[:4])[0]
    offsets = struct.unpack("!" + "I" * count, frame[4:4 + 4 * count])
    end = offsets[1] if count > 1 else len(frame)
    return json.loads(frame[offsets[0]:end])


class Connection:
    """A kernel websocket: send shell messages, read iopub comm messages."""

    def __init__(self, socket_):
        self.socket = socket_
        self.session = uuid.uuid4().hex

    def send(self, msg_type, content, metadata=None):
        self.socket.write_message(json.dumps(_message(msg_type, content, metadata=metadata, session=self.session)))

    async def receive(self, timeout):
        frame = await asyncio.wait_for(self.socket.read_message(), timeout)
        if frame is None:
            raise ConnectionError("the kernel websocket closed")
        return _decode(frame)

    def comm(self, comm_id, data):
        self.send("comm_msg", {"comm_id": comm_id, "data": data})


def _find(states, model_name=None, dom_class=None, predicate=None):
    for model_id, entry in states.items():
        state = entry["state"]
        if model_name and entry["model_name"] != model_name:
            continue
        if dom_class and dom_class not in state.get("_dom_classes", ()):
            continue
        if predicate and not predicate(state):
            continue
        return model_id, state
    return None, None


async def _open_page(base, student):
    """GET the page; its kernel id; the warnings in its outputs."""
    start = time.monotonic()
    client = AsyncHTTPClient()
    answer = await client.fetch(HTTPRequest(base, request_timeout=PAGE_TIMEOUT))
    page = answer.body.decode()
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">\s*(\{.*?\})\s*</script>',
                                  page, re.S).group(1))
    outputs = re.findall(r'<script type="application/vnd.voila.cell-output\+json">\s*(.*?)\s*</script>', page, re.S)
    student.warnings += [text for text in outputs if '"stderr"' in text or '"error"' in text]
    return start, config["kernelId"], "application/vnd.jupyter.widget-view+json" in page


async def _widget_states(connection, deadline):
    """Every widget's state, through the widget control comm."""
    control = uuid.uuid4().hex
    connection.send("comm_open", {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
                    metadata={"version": "1.0.0"})
    connection.comm(control, {"method": "request_states"})
    while True:
        msg = await connection.receive(deadline - time.monotonic())
        content = msg.get("content", {})
        if msg["header"]["msg_type"] == "stream" and content.get("name") == "stderr":
            yield "warning", content.get("text", "")
        if msg["header"]["msg_type"] == "comm_msg" and content["data"].get("method") == "update_states":
            yield "states", content["data"]["states"]
            return


async def _drag(connection, states, student, until):
    """Drag a keypoint in a circle until ``until``; record the latency of each prediction."""
    main_id, _ = _find(states, "ImageModel", MAIN)
    prediction_id, _ = _find(states, "ImageModel", PREDICTION)
    moves_id, moves = _find(states, "EventModel", predicate=lambda s: "mousemove" in s.get("watched_events", ()))
    presses_id, _ = _find(states, "EventModel", predicate=lambda s: "mousedown" in s.get("watched_events", ()))
    wait = moves["wait"] / 1000
    centre = 160.0
    connection.comm(presses_id, {"method": "custom", "content": {"type": "mousedown", "dataX": centre, "dataY": centre}})
    sent, drawn = [], None  # send times of the moves; the index of the move whose keypoints arrived last
    angle = 0.0

    async def read():
        nonlocal wait, drawn
        while time.monotonic() < until + 5:
            try:
                msg = await connection.receive(max(0.05, until + 5 - time.monotonic()))
            except asyncio.TimeoutError:
                return
            content = msg.get("content", {})
            if msg["header"]["msg_type"] == "stream" and content.get("name") == "stderr":
                student.warnings.append(content.get("text", ""))
            if msg["header"]["msg_type"] != "comm_msg" or content["data"].get("method") != "update":
                continue
            comm_id, now = content["comm_id"], time.monotonic()
            if comm_id == main_id:
                drawn = (drawn if drawn is not None else -1) + 1
            elif comm_id == prediction_id and drawn is not None and drawn < len(sent) and now < until + 1:
                student.latencies.append(now - sent[drawn])
                student.predictions += 1
            elif comm_id == moves_id and "wait" in content["data"]["state"]:
                wait = content["data"]["state"]["wait"] / 1000

    reader = asyncio.ensure_future(read())
    while time.monotonic() < until:
        angle += STEP_DEGREES
        x = centre + RADIUS * math.cos(math.radians(angle))
        y = centre + RADIUS * math.sin(math.radians(angle))
        connection.comm(moves_id, {"method": "custom", "content": {"type": "mousemove", "dataX": x, "dataY": y}})
        sent.append(time.monotonic())
        await asyncio.sleep(wait)
    student.moves = len(sent)
    connection.comm(presses_id, {"method": "custom", "content": {"type": "mouseup", "dataX": x, "dataY": y}})
    await reader


async def _student(base, ws_base, student, start_drag, drag_seconds):
    try:
        start, kernel_id, has_view = await _open_page(base, student)
        socket_ = await websocket_connect(f"{ws_base}api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
                                          max_message_size=64 << 20)
        connection = Connection(socket_)
        states = {}
        async for kind, value in _widget_states(connection, start + PAGE_TIMEOUT):
            if kind == "warning":
                student.warnings.append(value)
            else:
                states = value
        student.has_app = has_view and _find(states, dom_class=APP_CLASS)[0] is not None
        student.page_ready = time.monotonic() - start
        if student.has_app:
            await start_drag.wait()
            await _drag(connection, states, student, time.monotonic() + drag_seconds)
        socket_.close()
    except Exception as error:  # a student who got no app is a result, not a crash
        student.error = f"{type(error).__name__}: {error}"


def _kernels(serve):
    try:
        children = psutil.Process(serve.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [child for child in children if "ipykernel" in " ".join(child.cmdline())]


def _cpu(processes):
    total = {}
    for process in processes:
        try:
            times = process.cpu_times()
            total[process.pid] = times.user + times.system
        except psutil.Error:
            pass
    return total


def _percentile(values, q):
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_serve(students, port):
    command = [sys.executable, "-m", "fomm_nb.cli", "serve", "--app", "explorer", "--students", str(students),
               "--port", str(port), "--host", "127.0.0.1"]
    serve = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    started, lines = time.monotonic(), []
    while time.monotonic() - started < READY_TIMEOUT:
        line = serve.stdout.readline()
        if not line:
            raise RuntimeError("fomm-nb serve stopped:\n" + "".join(lines))
        lines.append(line)
        if line.startswith("Ctrl-C"):
            return serve, time.monotonic() - started, lines
    raise RuntimeError(f"fomm-nb serve was not ready after {READY_TIMEOUT:.0f} s")


def _stop_serve(serve):
    serve.send_signal(signal.SIGINT)
    try:
        serve.wait(timeout=60)
    except subprocess.TimeoutExpired:
        serve.kill()
        serve.wait()


async def _class(base, count, drag_seconds, serve):
    students = [Student() for _ in range(count)]
    start_drag = asyncio.Event()
    tasks = [asyncio.ensure_future(_student(base, "ws" + base[4:], s, start_drag, drag_seconds)) for s in students]
    deadline = time.monotonic() + PAGE_TIMEOUT + 10
    while not all(s.page_ready == s.page_ready or s.error for s in students) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    kernels = _kernels(serve)
    voila = psutil.Process(serve.pid).children()[0]
    before, started = _cpu(kernels + [voila]), time.monotonic()
    start_drag.set()
    await asyncio.gather(*tasks)
    seconds = time.monotonic() - started
    after = _cpu(kernels + [voila])
    memory = [k.memory_info().rss / 1e9 for k in kernels if k.is_running()]
    used = {pid: after.get(pid, before[pid]) - before[pid] for pid in before}
    return students, used, voila.pid, seconds, memory


def report(count, ready_seconds, students, used, voila_pid, seconds, memory, drag_seconds):
    ready = [s.page_ready for s in students if s.has_app]
    latencies = [x for s in students for x in s.latencies]
    dragging = [s for s in students if s.has_app]
    rates = [s.predictions / drag_seconds for s in dragging]
    kernel_cores = sum(v for pid, v in used.items() if pid != voila_pid) / seconds
    updates = sum(s.predictions for s in students)
    print(f"\n{count} students (fomm-nb serve ready in {ready_seconds:.0f} s, {len(memory)} kernels):")
    print(f"  page ready: median {statistics.median(ready) if ready else math.nan:.1f} s, "
          f"p95 {_percentile(ready, 0.95):.1f} s, max {max(ready, default=math.nan):.1f} s")
    print(f"  pages without their app: {sum(not s.has_app for s in students)}"
          + "".join(f"\n    {s.error}" for s in students if s.error)[:600])
    print(f"  pages with warnings: {sum(bool(s.warnings) for s in students)}"
          + "".join(f"\n    {s.warnings[0][:200]!r}" for s in students if s.warnings)[:600])
    print(f"  drag -> prediction: p50 {_percentile(latencies, 0.5):.3f} s, p95 {_percentile(latencies, 0.95):.3f} s, "
          f"max {max(latencies, default=math.nan):.3f} s ({len(latencies)} predictions)")
    print(f"  predictions per second per student: median {statistics.median(rates) if rates else 0:.1f}, "
          f"min {min(rates, default=0):.1f} (moves sent: {statistics.median([s.moves for s in dragging] or [0]):.0f} "
          f"per student)")
    print(f"  kernels' CPU while dragging: {kernel_cores:.2f} cores in all, "
          f"{1000 * kernel_cores * seconds / max(updates, 1):.0f} ms per prediction; Voila itself "
          f"{used.get(voila_pid, 0) / seconds:.2f} cores")
    print(f"  kernel memory: median {statistics.median(memory) if memory else 0:.2f} GB, "
          f"max {max(memory, default=0):.2f} GB, all {sum(memory):.1f} GB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 8, 16, 24], help="class sizes to try")
    parser.add_argument("--drag-seconds", type=float, default=30.0, help="how long every student drags")
    args = parser.parse_args()
    print(machine())
    for count in args.students:
        port = _free_port()
        serve, ready_seconds, _ = _start_serve(count, port)
        try:
            results = asyncio.run(_class(f"http://127.0.0.1:{port}/", count, args.drag_seconds, serve))
        finally:
            _stop_serve(serve)
        report(count, ready_seconds, *results, args.drag_seconds)


if __name__ == "__main__":
    main()
