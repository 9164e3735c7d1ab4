"""The live page in a real browser, for tests/test_browser_live.py and benchmarks/live_latency.py.

Voila serves one notebook on 127.0.0.1; Chromium runs with a fake camera that
plays a ``.y4m`` clip (``--use-file-for-fake-video-capture``), so the page's
``getUserMedia`` gets the clip's frames as a real camera's. The camera widget
keeps its figures on its element (``element.fommLive``: frames sent, shown,
dropped; the latency of each shown frame in ms), which :func:`live_stats` reads.
"""

import os
import secrets
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from notebook_kernel import jupyter_path_with, write_kernelspec
from test_browser import START_TIMEOUT, _browser, _free_port, _stop, _wait_for_http

ROOT = Path(__file__).resolve().parents[1]
LIVE_PAGE = ROOT / "notebooks" / "apps" / "live.ipynb"
CAMERA, RESULT, READOUT = ".fomm-live-camera", "canvas.fomm-live-result", ".fomm-live-readout"
READOUT_PATTERN = r"^(\d+\.\d) fps · (\d+) ms$"


def fake_camera_flags(clip: Path) -> list:
    """Chromium's flags for a fake camera playing ``clip`` (.y4m) with the permission granted."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}"]


def write_y4m(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Frames ``(T, H, W, 3)`` in [0, 1] as a y4m file (yuv420p), the format Chromium's fake camera plays."""
    import imageio_ffmpeg

    height, width = frames.shape[1:3]
    pixels = (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, input=pixels.tobytes(), check=True)
    return path


@contextmanager
def voila(notebook: Path, folder: Path, ip: str = "127.0.0.1"):
    """Voila serving ``notebook`` at the root of a free port on ``ip``; yields the URL on 127.0.0.1; stopped by its PID.

    Off loopback the page asks for a token (in the URL yielded), as ``fomm-nb serve`` does.
    """
    port = _free_port()
    token = None if ip == "127.0.0.1" else secrets.token_urlsafe(16)
    env = {**os.environ, "JUPYTER_PATH": jupyter_path_with(write_kernelspec(folder / "jupyter")),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    log = folder / "voila.log"
    command = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", f"--Voila.ip={ip}",
               "--VoilaExecutor.iopub_timeout=300", f"--token={token or ''}"]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=notebook.parent, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/", process, log, START_TIMEOUT)
        yield f"http://127.0.0.1:{port}/" + (f"?token={token}" if token else "")
    finally:
        _stop(process)


@contextmanager
def chromium(folder: Path, clip: Path, messages: list, grant: bool = True):
    """A Chromium page with the fake camera playing ``clip``; console messages go to ``messages``.

    ``grant=False``: the page asks for the camera and nobody answers the prompt (headless): permission refused.
    """
    with _browser(folder, messages, extra_args=fake_camera_flags(clip)[0 if grant else 1:]) as page:
        yield page


def open_live_page(page, url: str, shown: int = 3) -> None:
    """Open the live page and wait until ``shown`` animated frames have been displayed."""
    page.goto(url, timeout=START_TIMEOUT * 1000)
    page.wait_for_selector(RESULT, state="attached", timeout=START_TIMEOUT * 1000)
    page.wait_for_function(f"() => {{ const el = document.querySelector('{CAMERA}');"
                           f" return el && el.fommLive && el.fommLive.shown >= {shown}; }}",
                           timeout=START_TIMEOUT * 1000)


def live_stats(page) -> dict:
    """The camera widget's figures: camera frames, sent, shown, dropped, errors, lost, readout, message.

    And for each shown frame, in ms: its latency (capture to display), the kernel's work on it, and where
    the latency went: ``encode`` (capture to bytes sent), ``round_trip`` (sent to answered: the wire both ways
    and the kernel's work), ``display`` (answered to displayed); ``most_on_wire``: the most frames unanswered at once.
    """
    return page.evaluate(f"""() => {{
        const el = document.querySelector('{CAMERA}');
        const s = el.fommLive;
        return {{camera: s.camera, sent: s.sent, shown: s.shown, dropped: s.dropped, errors: s.errors, lost: s.lost,
                 latencies: s.latencies.slice(), work: s.work.slice(), encode: s.encode.slice(),
                 round_trip: s.roundTrip.slice(), display: s.display.slice(), most_on_wire: s.mostOnWire,
                 readout: el.querySelector('{READOUT}').textContent,
                 message: el.querySelector('.fomm-live-message').textContent}};
    }}""")


def grab_frames(page, size: int) -> tuple:
    """What the page shows now, at ``size`` pixels: the camera's centre square and the animated picture, ``(size, size, 3)`` each.

    And the age in ms of the camera frame the animated picture was made from (captured that long ago).
    """
    pixels = page.evaluate(f"""() => {{
        const el = document.querySelector('{CAMERA}');
        const video = el.querySelector('video'), image = document.querySelector('{RESULT}');
        const canvas = document.createElement('canvas');
        canvas.width = 2 * {size}; canvas.height = {size};
        const context = canvas.getContext('2d');
        const side = Math.min(video.videoWidth, video.videoHeight);
        context.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side,
                          0, 0, {size}, {size});
        context.drawImage(image, {size}, 0, {size}, {size});
        const [shownAt, latency] = el.fommLive.shownAt[el.fommLive.shownAt.length - 1];
        return [performance.now() - shownAt + latency, Array.from(context.getImageData(0, 0, 2 * {size}, {size}).data)];
    }}""")
    age, pixels = pixels
    both = np.asarray(pixels, np.float32).reshape(size, 2 * size, 4)[..., :3] / 255
    return both[:, :size], both[:, size:], age


# The camera widget's page alone, with a fake kernel in the page instead of Voila and Python: it animates one
# frame at a time for WORK ms and drops (answers "dropped") a frame that arrives while it works, and each message
# takes WIRE ms each way; ``?answer=0`` makes it a kernel that reads frames and never answers. Its counts are in
# ``window.fakeKernel``. This tests the page's side of the protocol (when it sends) in a few seconds.
FAKE_KERNEL_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="camera.css"></head>
<body><div id="widget"></div>
<script type="module">
import camera from "./camera.js";

const query = new URLSearchParams(location.search);
const WORK = Number(query.get("work")), WIRE = Number(query.get("wire")), ANSWER = query.get("answer") !== "0";
const values = { size: 64, playing: "camera", clip: null, restarts: 0, show_keypoints: true, quality: 0.8,
                 status: "starting", status_message: "", readout: "" };
const listeners = {};
const kernel = { received: 0, animated: 0, dropped: 0, busyUntil: 0 };
window.fakeKernel = kernel;

function toPage(content, buffers) {
  setTimeout(() => (listeners["msg:custom"] || []).forEach((listener) => listener(content, buffers)), WIRE);
}

function arrive(content, buffers) {
  kernel.received += 1;
  if (!ANSWER) return;
  const now = performance.now();
  if (now < kernel.busyUntil) {
    kernel.dropped += 1;
    toPage({ type: "dropped", id: content.id, t: content.t }, []);
    return;
  }
  kernel.busyUntil = now + WORK;
  kernel.animated += 1;
  setTimeout(() => toPage({ type: "result", id: content.id, t: content.t, keypoints: [[0, 0]], work_ms: WORK },
                          [new DataView(buffers[0])]), WORK);
}

const model = {
  get: (name) => values[name],
  set: (name, value) => { values[name] = value; },
  save_changes() {},
  on(names, listener) { names.split(" ").forEach((name) => (listeners[name] = listeners[name] || []).push(listener)); },
  off(names, listener) {
    names.split(" ").forEach((name) => { listeners[name] = (listeners[name] || []).filter((l) => l !== listener); });
  },
  send(content, callbacks, buffers) { setTimeout(() => arrive(content, buffers), WIRE); },
};
camera.render({ model, el: document.getElementById("widget") });
</script></body></html>
"""


@contextmanager
def fake_kernel_page(folder: Path):
    """The camera widget's files and :data:`FAKE_KERNEL_PAGE` served on 127.0.0.1; yields the page's URL."""
    import shutil

    from fomm_nb.widgets.camera import STATIC
    from test_browser import _http_server

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("camera.js", "camera.css"):
        shutil.copy(STATIC / name, folder / name)
    (folder / "index.html").write_text(FAKE_KERNEL_PAGE)
    with _http_server(folder) as url:
        yield url + "index.html"
