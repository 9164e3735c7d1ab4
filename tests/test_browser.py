"""The notebook apps in a real browser: Voila serves notebooks/, Chromium uses them.

Voila serves the notebooks folder on 127.0.0.1 (a free port), as for a
classroom, running each notebook in a kernel of this Python; Playwright
drives Debian's Chromium (``scripts/install-system.sh``, or
``$FOMM_NB_CHROMIUM``). In the keypoint explorer it presses on a keypoint of
the main image, drags it, and checks that the displayed prediction changed;
in the try-it app it picks a photo and a video, presses Generate and waits
for the result video; and it plays the page ``fomm-nb demo`` writes, served
over HTTP on 127.0.0.1. Screenshots go to ``$FOMM_NB_ARTIFACTS`` (default
``<tmp>/fomm-nb-artifacts``).

Without Chromium (or Playwright, or Voila) the tests are skipped on a user's
machine, and fail under CI (``CI=true``).

    .venv/bin/python -m pytest tests/test_browser.py -s
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import wait_until as _wait_until
from notebook_kernel import jupyter_path_with, write_kernelspec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = NOTEBOOKS / "03_keypoint_explorer.ipynb"
TRY_IT = NOTEBOOKS / "01_try_it_yourself.ipynb"
CHROMIUM = Path(os.environ.get("FOMM_NB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Exactly the clip of notebooks/03_keypoint_explorer.ipynb (seeds and length), so that the keypoints match.
SOURCE_SEED, DRIVING_SEED, DRIVING_FRAMES = 3, 7, 48
NOTEBOOK_CLIP = "make_video(seed=7, num_frames=8 if FAST else 48, size=size)"
MAIN, PREDICTION = "img.fomm-explorer-main", "img.fomm-explorer-prediction"
START_TIMEOUT = 120  # seconds: Voila up, notebook executed, explorer drawn (a loaded 2-core machine)
DRAG_PIXELS = 60  # how far the keypoint is dragged, in displayed pixels
MOVED_LEVELS = 60  # a keypoint's dot moved: some pixel of the keypoint picture changes by this much (of 255)
CHANGED_LEVELS, CHANGED_MEAN = 20, 1.0  # the prediction changed: some pixel by this much (of 255), and this on average
ARTIFACTS = Path(os.environ.get("FOMM_NB_ARTIFACTS", Path(tempfile.gettempdir()) / "fomm-nb-artifacts"))


def _missing(reason):
    """Skip with the reason printed on a user's machine; fail under CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    print(f"\nskipping the browser test: {reason}")
    pytest.skip(reason)


def _requirements():
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (install it with: bash scripts/install-system.sh)")
    for module in ("playwright", "voila"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"the Python package {module} is missing (pip install -e '.[dev]')")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_http(url, process, log, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Voila exited with status {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "favicon.ico", timeout=2):
                return
        except urllib.error.HTTPError:  # an answer, even 404: the server is up
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"Voila did not answer at {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(process):
    """Stop Voila (our PID) and whatever it started that outlives it (its kernels)."""
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:  # psutil missing or Voila already gone: the kernels exit with their parent
        children = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for child in children:
        try:
            child.wait(timeout=5)
        except Exception:
            try:
                child.kill()
            except Exception:
                pass


@contextmanager
def serving_notebooks(folder, **environment):
    """Voila serving the notebooks folder on 127.0.0.1, its log and kernelspec in ``folder``; yields its URL.

    ``environment`` adds variables for Voila and its kernels. Voila is stopped by its PID at the end.
    """
    _requirements()
    port = _free_port()
    env = {**os.environ, "JUPYTER_PATH": jupyter_path_with(write_kernelspec(folder / "jupyter")),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **environment}
    log = folder / "voila.log"
    command = [sys.executable, "-m", "voila", str(NOTEBOOKS), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_http(url, process, log, START_TIMEOUT)
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    """Voila serving the notebooks folder (``URL + "voila/render/NAME.ipynb"``)."""
    with serving_notebooks(tmp_path_factory.mktemp("voila")) as url:
        yield url


def _target_keypoint():
    """The keypoint with the largest mask in the explorer's first view, and where it is in [-1, 1].

    The explorer starts on frame 0 of the clip with relative transfer, so the
    generator sees the source's own keypoints; the drag should move a keypoint
    whose motion covers much of the picture, so that the prediction changes visibly.
    """
    from fomm_nb.data import make_video
    from fomm_nb.hub import get_model
    from fomm_nb.media import to_tensor

    model = get_model("demo", device="cpu")
    size = model.image_size
    source = to_tensor(make_video(seed=SOURCE_SEED, num_frames=1, size=size).frames[0])
    driving = to_tensor(make_video(seed=DRIVING_SEED, num_frames=DRIVING_FRAMES, size=size).frames[0])
    with torch.no_grad():
        kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
        mask = model.generator(source, kp_source=kp_source, kp_driving=kp_source)["mask"]  # (1, K + 1, h, w)
    k = int(mask[0, 1:].sum(dim=(1, 2)).argmax())
    return k, kp_driving["value"][0, k].numpy()


def _screen_point(box, natural_size, value):
    """Page coordinates of a point ``value`` in [-1, 1] on an image of ``natural_size`` pixels shown in ``box``."""
    pixel = (np.asarray(value) + 1) / 2 * (natural_size - 1) + 0.5  # the centre of the pixel
    return (float(box["x"] + pixel[0] * box["width"] / natural_size),
            float(box["y"] + pixel[1] * box["height"] / natural_size))


def _pixels(png):
    from PIL import Image

    return np.asarray(Image.open(BytesIO(png)).convert("RGB"), dtype=np.float32)


def _render_url(base, notebook):
    return f"{base}voila/render/{notebook.relative_to(NOTEBOOKS).as_posix()}"


@contextmanager
def _browser(folder, messages, extra_args=()):
    """A Chromium page (a fresh profile in ``folder``); console messages go to ``messages``.

    ``extra_args``: Chromium flags beside :data:`CHROMIUM_FLAGS` (the live page's fake camera, for one).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(folder), executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_FLAGS, *extra_args],
            viewport={"width": 1400, "height": 1000})
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
            yield page
        finally:
            browser.close()


def _console_errors(messages):
    """Console errors, less the expected ones offline (fonts and scripts from a CDN)."""
    return [m for m in messages if m.startswith("error") and "ERR_NAME_NOT_RESOLVED" not in m and "font" not in m.lower()]


def _open_app(page, url, selector, name):
    """Open ``url`` and wait for ``selector``; on failure save a screenshot and show the page's error outputs."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.goto(url, timeout=START_TIMEOUT * 1000)
        return page.wait_for_selector(selector, state="visible", timeout=START_TIMEOUT * 1000)
    except PlaywrightError as error:
        page.screenshot(path=str(ARTIFACTS / f"{name}-failed.png"), full_page=True)
        outputs = page.locator("[data-mime-type='application/vnd.jupyter.stderr'], .jp-OutputArea-output pre").all_inner_texts()
        pytest.fail(f"{url}: {selector} did not appear ({str(error).splitlines()[0]}); "
                    f"page outputs: {[text[-500:] for text in outputs][-3:]}; screenshot in {ARTIFACTS}")


def test_dragging_a_keypoint_changes_the_prediction(voila_url, tmp_path):
    assert NOTEBOOK_CLIP in NOTEBOOK.read_text(), f"{NOTEBOOK.name} changed its clip: update this test's constants"
    k, value = _target_keypoint()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    messages = []
    start = time.perf_counter()
    with _browser(tmp_path / "chromium-profile", messages) as page:
        main = _open_app(page, _render_url(voila_url, NOTEBOOK), MAIN, "explorer")
        prediction = page.wait_for_selector(PREDICTION, state="visible", timeout=START_TIMEOUT * 1000)
        page.wait_for_function(f"document.querySelector('{PREDICTION}').naturalWidth > 0", timeout=30_000)
        time.sleep(1.0)  # let any first background prediction land
        loaded = time.perf_counter() - start

        before_src = prediction.get_attribute("src")
        before, main_before = prediction.screenshot(), main.screenshot()
        (ARTIFACTS / "explorer-before.png").write_bytes(page.screenshot(full_page=True))
        box = main.bounding_box()
        natural = page.evaluate(f"document.querySelector('{MAIN}').naturalWidth")
        x, y = _screen_point(box, natural, value)
        direction = 1 if value[0] < 0 else -1  # drag towards the middle, so the keypoint stays on the image
        page.mouse.move(x, y)
        page.mouse.down()
        page.wait_for_timeout(300)  # the press selects the nearest keypoint
        selected = page.locator(".fomm-explorer select").evaluate("menu => menu.selectedOptions[0].text")
        for step in range(1, 11):
            page.mouse.move(x + direction * DRAG_PIXELS * step / 10, y)
            page.wait_for_timeout(60)
        page.mouse.up()

        _wait_until(lambda: prediction.get_attribute("src") != before_src, 30, "the prediction image to update")
        time.sleep(1.0)  # the last background prediction, after the mouse rests
        after, main_after = prediction.screenshot(), main.screenshot()
        (ARTIFACTS / "explorer-after.png").write_bytes(page.screenshot(full_page=True))
        (ARTIFACTS / "prediction-before.png").write_bytes(before)
        (ARTIFACTS / "prediction-after.png").write_bytes(after)
    seconds = time.perf_counter() - start
    change = np.abs(_pixels(after) - _pixels(before)).mean(-1)  # (H, W) grey levels
    moved = np.abs(_pixels(main_after) - _pixels(main_before)).mean(-1)
    print(f"\nexplorer: pressed on keypoint {k}, selected {selected}; dragged {DRAG_PIXELS} px; the prediction changed by "
          f"{change.mean():.2f} grey levels on average (at most {change.max():.0f}); page ready in {loaded:.1f} s, "
          f"test {seconds:.1f} s; screenshots in {ARTIFACTS}")
    errors = _console_errors(messages)
    assert selected == str(k), f"pressed on keypoint {k}, the explorer selected {selected}"
    # Screenshots of one image are identical, so any difference is a redraw; these margins are far above zero.
    assert moved.max() > MOVED_LEVELS, f"the keypoint was not redrawn elsewhere (console errors: {errors[-5:]})"
    assert change.max() > CHANGED_LEVELS and change.mean() > CHANGED_MEAN, (
        f"the prediction did not change visibly: mean {change.mean():.3f}, max {change.max():.1f} "
        f"(console errors: {errors[-5:]})")


SLIDERS = NOTEBOOKS / "apps" / "sliders.ipynb"


def test_the_sliders_board_shows_every_picture_and_follows_the_frame_slider(voila_url, tmp_path):
    """The sliders app's five pictures come in one board; a keyboard step of the frame slider redraws the result."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    messages = []
    names = ("source", "driving", "result", "truth", "error")
    shown = " && ".join(f"document.querySelector('.fomm-board-{name} img')?.naturalWidth > 0" for name in names)
    with _browser(tmp_path / "chromium-profile", messages) as page:
        _open_app(page, _render_url(voila_url, SLIDERS), ".fomm-motion-sliders .fomm-board-grid", "sliders")
        page.wait_for_function(shown, timeout=30_000)
        result = page.locator(".fomm-board-result img")
        before_src, source_src = result.get_attribute("src"), page.locator(".fomm-board-source img").get_attribute("src")
        frame = page.locator(".fomm-motion-sliders .widget-slider:has(label:text-is('frame')) .noUi-handle")
        frame.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        _wait_until(lambda: result.get_attribute("src") != before_src, 30, "the result picture to follow the slider")
        (ARTIFACTS / "sliders.png").write_bytes(page.screenshot(full_page=True))
        assert page.locator(".fomm-board-source img").get_attribute("src") == source_src, "the source was redrawn"
        legend = page.locator(".fomm-board-error .fomm-legend").inner_text()
    assert "0.5" in legend, f"the error map's scale is missing: {legend!r}"
    assert not _console_errors(messages), _console_errors(messages)[-5:]


def _choose(page, description, label_start):
    """Pick the option starting with ``label_start`` in the try-it app's dropdown ``description``; its label."""
    menu = page.locator(f".fomm-tryit .widget-dropdown:has(label:text-is('{description}')) select")
    labels = menu.evaluate("menu => [...menu.options].map(option => option.text)")
    label = next((text for text in labels if text.startswith(label_start)), None)
    assert label is not None, f"no {description} starting with {label_start!r} among {labels}"
    menu.select_option(label=label)
    return label


def test_try_it_generates_a_video(voila_url, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    messages = []
    start = time.perf_counter()
    with _browser(tmp_path / "chromium-profile", messages) as page:
        _open_app(page, _render_url(voila_url, TRY_IT), ".fomm-tryit", "try-it")
        generate = page.locator(".fomm-tryit button", has_text="Generate")
        picture = _choose(page, "picture", "astronaut")
        video = _choose(page, "video", "carphone")
        _choose(page, "model", "demo")
        page.wait_for_timeout(500)  # the previews follow the menus
        generate.click()
        result = page.locator("video.fomm-tryit-result")
        result.wait_for(state="visible", timeout=START_TIMEOUT * 1000)
        status = page.locator(".fomm-tryit .widget-html").all_inner_texts()
        links = page.locator(".fomm-tryit a[download]").count()
        source = result.get_attribute("src") or ""
        (ARTIFACTS / "try-it.png").write_bytes(page.screenshot(full_page=True))
    seconds = time.perf_counter() - start
    print(f"\ntry it: {picture} x {video}: {' '.join(text for text in status if 'frames' in text)}; test {seconds:.1f} s")
    errors = _console_errors(messages)
    assert source, f"the result video has no source (console errors: {errors[-5:]})"
    assert links == 2, f"expected two download links, found {links}"
    assert any("frames in" in text for text in status), f"no 'N frames in S s' status: {status}"


@contextmanager
def _http_server(folder):
    """A static HTTP server for ``folder`` on 127.0.0.1 (a free port), in a thread; yields its URL."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_demo_page_plays_its_video(tmp_path):
    from fomm_nb.demo import run_demo

    _requirements()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_demo(tmp_path / "out", device="cpu")
    messages = []
    with _http_server(tmp_path / "out") as url, _browser(tmp_path / "chromium-profile", messages) as page:
        page.goto(url + "index.html", timeout=START_TIMEOUT * 1000)
        video = page.locator("video")
        # muted autoplay: the video has decoded frames and its clock runs
        page.wait_for_function("() => { const v = document.querySelector('video');"
                               " return v.readyState >= 2 && v.currentTime > 0.5; }", timeout=START_TIMEOUT * 1000)
        width, height, duration = video.evaluate("v => [v.videoWidth, v.videoHeight, v.duration]")
        picture_width = page.locator("img").evaluate("img => img.naturalWidth")
        (ARTIFACTS / "demo-page.png").write_bytes(page.screenshot(full_page=True))
    assert (width, height) == (3 * 256, 256), f"the side-by-side video shows at {width}x{height}"
    assert duration == pytest.approx(5.0, abs=0.1)  # 125 frames at 25 fps
    assert picture_width > 400, "the keypoint picture did not load"
    assert not _console_errors(messages), _console_errors(messages)
