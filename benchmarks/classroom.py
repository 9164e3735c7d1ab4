"""Classroom capacity: ``fomm-nb serve`` on 127.0.0.1 and N students who speak Voila's protocol.

Each simulated student does what a browser does, without drawing anything:

1. opens the page over HTTP (Voila gives it a kernel that has already run the page);
2. connects to the kernel's websocket and asks for every widget's state
   (the ``jupyter.widget.control`` comm, as the widget manager does): the app
   is there when the state holds the ``fomm-app`` box (page ready);
3. drags a keypoint in the explorer: a ``mousedown`` on the main image, then
   ``mousemove`` messages in a circle, as a browser throttled by ipyevents
   sends them: one every ``wait`` ms of the move Event widget, whether or not
   the kernel keeps up. ``wait`` is read from the widget's state and then from
   every update of it the kernel sends (the explorer raises it when its
   updates fall behind and lowers it when they keep up:
   :class:`fomm_nb.widgets.updates.MovePacer`), so the moves' rate is the one
   the kernel asks for.

A move is answered when the kernel sends the prediction image that follows
it: the latency is the time from the move whose keypoint drawing arrived
last to that prediction. All students start together (the class arrives at
once); everything is bounded in time, loopback only, and ``fomm-nb serve``
(our child, by PID) is stopped at the end with its kernels.

Printed per class size: page ready (median, p95, max), pages without their
app, pages with warnings, drag -> prediction latency (p50, p95, max) and the
part of it after the kernel sent the prediction (its header's date: Voila,
the websocket and this client), prediction updates per second per student,
the interval between moves the kernels asked for, the kernels' CPU (cores,
and ms per update) and memory, and the CPU of Voila and of this client.

    .venv/bin/python benchmarks/classroom.py --students 1 8 16 24
    .venv/bin/python benchmarks/classroom.py --students 16 --drag-seconds 60
    .venv/bin/python benchmarks/classroom.py --students 16 --min-wait 0.2   # what if the app paced moves to 5/s
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
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from common import machine

ROOT = Path(__file__).resolve().parents[1]
APP_CLASS, FAILED_CLASS = "fomm-app", "fomm-app-failed"  # fomm_nb.widgets.app_page
PROTOCOL = "v1.kernel.websocket.jupyter.org"  # the kernel websocket protocol of JupyterLab's client
MAIN, PREDICTION = "fomm-explorer-main", "fomm-explorer-prediction"
PAGE_TIMEOUT = 120.0  # seconds a student waits for the page and its app
READY_TIMEOUT = 900.0  # seconds for fomm-nb serve to have the class's kernels ready
RADIUS, STEP_DEGREES = 40.0, 4.0  # the drag: a circle on the 320-px main image


@dataclass
class Student:
    """What one simulated student saw."""

    page_ready: float = math.nan
    has_app: bool = False
    warnings: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    outbound: list = field(default_factory=list)  # of each latency, the part after the kernel sent the prediction
    predictions: int = 0
    pictures: int = 0  # keypoint pictures drawn for our moves (the motion panels come with them)
    moves: int = 0
    waits: list = field(default_factory=list)  # the interval (s) the kernel asked for, at each move sent
    kernel_id: str = ""
    error: str = ""


def _frame(channel, msg):
    """A message as a v1 websocket frame: offsets, the channel, then header, parent header, metadata, content."""
    parts = [channel.encode()] + [json.dumps(msg[key]).encode()
                                  for key in ("header", "parent_header", "metadata", "content")]
    offsets = [8 * (len(parts) + 2)]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return b"".join([len(offsets).to_bytes(8, "little"), *(o.to_bytes(8, "little") for o in offsets), *parts])


def _unframe(frame):
    """``(header, parent_header, content)`` of a v1 websocket frame (its buffers, the pictures, are not needed)."""
    count = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1):8 * (i + 2)], "little") for i in range(count)]
    return tuple(json.loads(frame[offsets[i]:offsets[i + 1]]) for i in (1, 2, 4))


class Connection:
    """A kernel websocket in the v1 protocol (as JupyterLab's client): shell messages out, iopub messages in.

    Every message the kernel sends while handling one of ours names it as its
    parent, and every message we send is remembered with its send time
    (``sent``), so a reply's parent says which of our messages it answers.
    """

    def __init__(self, socket_):
        self.socket = socket_
        self.session = uuid.uuid4().hex
        self.sent = {}  # msg_id -> time.monotonic() when sent
        self.clock_offset = time.time() - time.monotonic()  # to compare with the kernel's header dates (same machine)

    def send(self, msg_type, content, metadata=None):
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": "student", "session": self.session, "msg_type": msg_type,
                  "version": "5.3", "date": datetime.now(timezone.utc).isoformat()}
        message = {"header": header, "parent_header": {}, "metadata": metadata or {}, "content": content}
        self.socket.write_message(_frame("shell", message), binary=True)
        self.sent[msg_id] = time.monotonic()
        return msg_id

    def comm(self, comm_id, data):
        return self.send("comm_msg", {"comm_id": comm_id, "data": data})

    async def receive(self, timeout):
        """``(msg_type, parent msg_id, content, sent)`` of the next message; ``sent``: its header's date, monotonic seconds."""
        frame = await asyncio.wait_for(self.socket.read_message(), max(timeout, 0.01))
        if frame is None:
            raise ConnectionError("the kernel websocket closed")
        header, parent, content = _unframe(frame) if isinstance(frame, bytes) else (
            (lambda msg: (msg["header"], msg["parent_header"], msg["content"]))(json.loads(frame)))
        sent = datetime.fromisoformat(header["date"]).timestamp() - self.clock_offset if "date" in header else math.nan
        return header["msg_type"], parent.get("msg_id"), content, sent


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
    """GET the page: its kernel id, whether it shows a widget, and the warnings in its outputs."""
    answer = await AsyncHTTPClient().fetch(HTTPRequest(base, request_timeout=PAGE_TIMEOUT))
    page = answer.body.decode()
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">\s*(\{.*?\})\s*</script>',
                                  page, re.S).group(1))
    outputs = re.findall(r'<script type="application/vnd.voila.cell-output\+json">\s*(.*?)\s*</script>', page, re.S)
    student.warnings += [text for text in outputs if '"stderr"' in text or '"error"' in text]
    return config["kernelId"], "application/vnd.jupyter.widget-view+json" in page


def _warning(connection, msg_type, parent, content):
    """The text of a warning the kernel sent in answer to one of our messages (None if it is not one).

    Streams without a parent of ours are left out: ipykernel writes one, "No
    such comm", for the widget control comm that it opens a moment later,
    and a page shows neither.
    """
    if parent in connection.sent and (msg_type == "error" or (msg_type == "stream" and content.get("name") == "stderr")):
        return content.get("text") or content.get("evalue", "")
    return None


async def _widget_states(connection, student, deadline):
    """Every widget's state, through the widget control comm (as the page's widget manager asks for it)."""
    control = uuid.uuid4().hex
    connection.send("comm_open", {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
                    metadata={"version": "1.0.0"})
    request = connection.comm(control, {"method": "request_states"})
    while True:
        msg_type, parent, content, _ = await connection.receive(deadline - time.monotonic())
        if (warning := _warning(connection, msg_type, parent, content)) is not None:
            student.warnings.append(warning)
        if msg_type == "comm_msg" and parent == request and content["data"].get("method") == "update_states":
            return content["data"]["states"]


async def _drag(connection, states, student, until, min_wait=0.0):
    """Drag a keypoint in a circle until ``until``; record the latency of each new prediction.

    A prediction answers the move that the keypoint picture sent just before
    it answers (the kernel's messages name the message it was handling as
    their parent). With the explorer's worker thread, that is the latest move
    the kernel had taken in when it drew the keypoints, which is the move
    drawn, or (when a move arrives while it draws) one move newer.
    """
    main_id, _ = _find(states, "ImageModel", MAIN)
    prediction_id, _ = _find(states, "ImageModel", PREDICTION)
    moves_id, moves = _find(states, "EventModel", predicate=lambda s: "mousemove" in s.get("watched_events", ()))
    presses_id, _ = _find(states, "EventModel", predicate=lambda s: "mousedown" in s.get("watched_events", ()))
    wait = max(min_wait, moves["wait"] / 1000)
    centre = 160.0
    connection.comm(presses_id, {"method": "custom", "content": {"type": "mousedown", "dataX": centre, "dataY": centre}})
    drag_moves, drawn = set(), None  # our moves' ids; the move the last keypoint picture answered

    async def read():
        nonlocal wait, drawn
        while (left := until + 2 - time.monotonic()) > 0:
            try:
                msg_type, parent, content, sent = await connection.receive(left)
            except asyncio.TimeoutError:
                return
            if (warning := _warning(connection, msg_type, parent, content)) is not None:
                student.warnings.append(warning)
            if msg_type != "comm_msg" or content["data"].get("method") != "update":
                continue
            comm_id, now = content["comm_id"], time.monotonic()
            if comm_id == main_id and parent in drag_moves:
                drawn = parent
                student.pictures += now < until + 1
            elif comm_id == prediction_id and drawn is not None and now < until + 1:
                student.latencies.append(now - connection.sent[drawn])
                student.outbound.append(now - sent)
                student.predictions += 1
                drawn = None
            elif comm_id == moves_id and "wait" in content["data"]["state"]:
                wait = max(min_wait, content["data"]["state"]["wait"] / 1000)

    reader = asyncio.ensure_future(read())
    angle, x, y = 0.0, centre, centre
    while time.monotonic() < until and not reader.done():
        angle += STEP_DEGREES
        x = centre + RADIUS * math.cos(math.radians(angle))
        y = centre + RADIUS * math.sin(math.radians(angle))
        drag_moves.add(connection.comm(moves_id, {"method": "custom",
                                                  "content": {"type": "mousemove", "dataX": x, "dataY": y}}))
        student.waits.append(wait)
        await asyncio.sleep(wait)
    student.moves = len(drag_moves)
    connection.comm(presses_id, {"method": "custom", "content": {"type": "mouseup", "dataX": x, "dataY": y}})
    await reader


async def _student(base, student, start_drag, drag_seconds, min_wait):
    socket_ = None
    try:
        start = time.monotonic()
        kernel_id, has_view = await _open_page(base, student)
        student.kernel_id = kernel_id
        url = f"ws{base[4:]}api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        socket_ = await websocket_connect(HTTPRequest(url, request_timeout=PAGE_TIMEOUT), subprotocols=[PROTOCOL],
                                          max_message_size=64 << 20)
        connection = Connection(socket_)
        states = await _widget_states(connection, student, start + PAGE_TIMEOUT)
        _, app = _find(states, dom_class=APP_CLASS)
        student.has_app = has_view and app is not None and FAILED_CLASS not in app["_dom_classes"]
        if not student.has_app:
            student.error = "the page shows no app" if app is None else "the page says the app did not start"
            return
        student.page_ready = time.monotonic() - start
        await start_drag.wait()
        await _drag(connection, states, student, time.monotonic() + drag_seconds, min_wait)
    except Exception as error:  # a student who got no app is a result, not a crash
        student.error = f"{type(error).__name__}: {error}"
    finally:
        if socket_ is not None:
            socket_.close()


def _kernels(serve):
    """``{kernel id: process}`` of the kernels under ``fomm-nb serve`` (the id is in the connection file's name)."""
    try:
        children = psutil.Process(serve.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    kernels = {}
    for child in children:
        try:
            match = re.search(r"kernel-([0-9a-f-]+)\.json", " ".join(child.cmdline()))
        except psutil.Error:
            continue
        if match:
            kernels[match.group(1)] = child
    return kernels


def _cpu_seconds(process):
    try:
        times = process.cpu_times()
        return times.user + times.system
    except psutil.Error:
        return math.nan


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
    """``fomm-nb serve --app explorer`` for ``students`` on 127.0.0.1:``port``, once it says it is ready."""
    command = [sys.executable, "-m", "fomm_nb.cli", "serve", "--app", "explorer", "--students", str(students),
               "--port", str(port), "--host", "127.0.0.1"]
    serve = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started, lines = time.monotonic(), []
    try:
        while time.monotonic() - started < READY_TIMEOUT:
            line = serve.stdout.readline()
            if not line:
                raise RuntimeError("fomm-nb serve stopped:\n" + "".join(lines[-30:]))
            lines.append(line)
            if line.startswith("Ctrl-C"):
                return serve, time.monotonic() - started, lines
        raise RuntimeError(f"fomm-nb serve was not ready after {READY_TIMEOUT:.0f} s:\n" + "".join(lines[-30:]))
    except BaseException:
        _stop_serve(serve)
        raise


def _stop_serve(serve):
    """SIGTERM to ``fomm-nb serve`` (it stops Voila and the kernels, as Ctrl-C does; a shell's background job
    ignores SIGINT); whatever of ours is left is killed by PID."""
    try:
        ours = psutil.Process(serve.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        ours = []
    serve.send_signal(signal.SIGTERM)
    try:
        serve.wait(timeout=90)
    except subprocess.TimeoutExpired:
        serve.kill()
        serve.wait()
    _, alive = psutil.wait_procs(ours, timeout=10)
    for process in alive:
        process.kill()
    serve.stdout.close()


async def _class(base, count, drag_seconds, serve, min_wait):
    """Run the class; returns the students, the CPU seconds used while they dragged, that time, and memory."""
    students = [Student() for _ in range(count)]
    start_drag = asyncio.Event()
    tasks = [asyncio.ensure_future(_student(base, s, start_drag, drag_seconds, min_wait)) for s in students]
    deadline = time.monotonic() + PAGE_TIMEOUT + 10
    while not all(s.page_ready == s.page_ready or s.error for s in students) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    kernels = _kernels(serve)
    voila = psutil.Process(serve.pid).children()[0]
    servers = {"voila": voila, "students": psutil.Process()}  # students: this client
    before, started = {key: _cpu_seconds(p) for key, p in {**kernels, **servers}.items()}, time.monotonic()
    start_drag.set()
    await asyncio.gather(*tasks)
    seconds = time.monotonic() - started
    later = _kernels(serve)  # the pool's refills started meanwhile count too
    used = {key: _cpu_seconds(p) - before.get(key, 0.0) for key, p in {**later, **servers}.items()}
    memory = {key: p.memory_info().rss / 1e9 for key, p in later.items() if p.is_running()}
    return students, used, seconds, memory


def report(count, ready_seconds, students, used, seconds, memory, drag_seconds):
    """Print one class's figures; returns its row of the summary table."""
    ready = [s.page_ready for s in students if s.has_app]
    latencies = [x for s in students for x in s.latencies]
    dragging = [s for s in students if s.has_app]
    rates = [s.predictions / drag_seconds for s in dragging]
    mine = [s.kernel_id for s in students if s.kernel_id in used]
    student_cpu = sum(used[k] for k in mine)
    other_cpu = sum(v for k, v in used.items() if k not in mine and k not in ("voila", "students"))
    updates = sum(s.predictions for s in students)
    without = sum(not s.has_app for s in students)
    warned = sum(bool(s.warnings) for s in students)
    kernel_memory = [memory[k] for k in mine if k in memory]
    print(f"\n{count} students (fomm-nb serve ready in {ready_seconds:.0f} s, {len(memory)} kernels at the end):")
    print(f"  page ready: median {statistics.median(ready) if ready else math.nan:.2f} s, "
          f"p95 {_percentile(ready, 0.95):.2f} s, max {max(ready, default=math.nan):.2f} s")
    print(f"  pages without their app: {without}" + "".join(f"\n    {s.error}" for s in students if s.error)[:600])
    print(f"  pages with warnings: {warned}"
          + "".join(f"\n    {s.warnings[0][:200]!r}" for s in students if s.warnings)[:600])
    print(f"  drag -> prediction: p50 {_percentile(latencies, 0.5):.3f} s, p95 {_percentile(latencies, 0.95):.3f} s, "
          f"max {max(latencies, default=math.nan):.3f} s ({len(latencies)} predictions)")
    outbound = [x for s in students for x in s.outbound]
    print(f"    of which after the kernel sent the prediction (server, websocket, this client): p50 "
          f"{_percentile(outbound, 0.5):.3f} s, p95 {_percentile(outbound, 0.95):.3f} s")
    pictures = [s.pictures / drag_seconds for s in dragging]
    print(f"  predictions per second per student: median {statistics.median(rates) if rates else 0:.1f}, "
          f"min {min(rates, default=0):.1f}; keypoint pictures per second: median "
          f"{statistics.median(pictures) if pictures else 0:.1f}; moves sent per second: median "
          f"{statistics.median([s.moves for s in dragging] or [0]) / drag_seconds:.1f}")
    waits = [1000 * w for s in dragging for w in s.waits]
    print(f"  interval between moves the kernels asked for: median {_percentile(waits, 0.5):.0f} ms, "
          f"p5 {_percentile(waits, 0.05):.0f} ms, p95 {_percentile(waits, 0.95):.0f} ms (over the moves sent)")
    print(f"  CPU while dragging: students' kernels {student_cpu / seconds:.2f} cores in all, "
          f"{student_cpu / seconds / max(len(mine), 1):.2f} per kernel, {1000 * student_cpu / max(updates, 1):.0f} ms "
          f"per prediction; other kernels (the pool's spares) {other_cpu / seconds:.2f} cores; "
          f"Voila {used['voila'] / seconds:.2f} cores; the simulated students (this process) "
          f"{used['students'] / seconds:.2f} cores")
    print(f"  memory per student's kernel: median {statistics.median(kernel_memory) if kernel_memory else 0:.2f} GB, "
          f"max {max(kernel_memory, default=0):.2f} GB; all kernels {sum(memory.values()):.1f} GB")
    return (f"| {count} | {statistics.median(ready) if ready else math.nan:.1f} / {_percentile(ready, 0.95):.1f} s "
            f"| {without} | {warned} | {_percentile(latencies, 0.5):.2f} / {_percentile(latencies, 0.95):.2f} / "
            f"{max(latencies, default=math.nan):.2f} s | {statistics.median(rates) if rates else 0:.1f} "
            f"| {_percentile(waits, 0.5):.0f} ms | {student_cpu / seconds / max(len(mine), 1):.2f} | "
            f"{statistics.median(kernel_memory) if kernel_memory else 0:.2f} GB |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 8, 16, 24], help="class sizes to try")
    parser.add_argument("--drag-seconds", type=float, default=30.0, help="how long every student drags")
    parser.add_argument("--min-wait", type=float, default=0.0,
                        help="what-if: seconds between two moves at least, whatever interval the app asks for "
                             "(0: the app's, as a browser does)")
    args = parser.parse_args()
    print(machine())
    if args.min_wait:
        print(f"what-if: moves at least {args.min_wait:.3f} s apart, not the interval the app asks for")
    rows = []
    for count in args.students:
        port = _free_port()
        serve, ready_seconds, _ = _start_serve(count, port)
        try:
            results = asyncio.run(_class(f"http://127.0.0.1:{port}/", count, args.drag_seconds, serve, args.min_wait))
        finally:
            _stop_serve(serve)
        rows.append(report(count, ready_seconds, *results, args.drag_seconds))
    print(f"\n{machine()}\n")
    print("| students | page ready, median / p95 | pages without app | pages with warnings "
          "| drag -> prediction p50 / p95 / max | updates/s per student | interval asked, median "
          "| cores per kernel | memory per kernel |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
