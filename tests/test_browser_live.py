"""The live page in a real browser: a fake camera plays a procedural clip, the picture follows it.

Voila serves ``notebooks/apps/live.ipynb`` on 127.0.0.1; Chromium's fake
camera plays a clip this test renders (``fomm_nb.data.make_video``, whose true
landmarks are known). While the page runs, the test reads what it shows
(the camera's centre square and the animated picture) several times a second;
the camera frame is matched to the clip frame it shows, and the landmarks of
the animated picture, read as the evaluation reads them, must follow the
clip's true landmarks. Then the "no camera?" button switches to the clip fallback.
A screenshot goes to ``$FOMM_NB_ARTIFACTS/live.png`` (the README's ``docs/live.png``).

The page's side of the back-pressure is tested against a fake kernel written in
the page (``live_page.FAKE_KERNEL_PAGE``: a set work time per frame, a set time
on the wire): the page sends each camera frame while the kernel works on an
earlier one, so a kernel faster than the camera keeps up with it; a slow kernel
drops what arrives while it works and the latency stays bounded; a kernel that
stops answering gets no more than a few frames.

    .venv/bin/python -m pytest tests/test_browser_live.py -s
"""

import re
import time

import numpy as np
import pytest

from fomm_nb.widgets.camera import STATIC
from live_page import (CAMERA, LIVE_PAGE, READOUT_PATTERN, chromium, fake_kernel_page, grab_frames, live_stats,
                       open_live_page, voila, write_y4m)
from test_browser import ARTIFACTS, _console_errors, _requirements

MAX_ON_WIRE = int(re.search(r"const MAX_ON_WIRE = (\d+);", (STATIC / "camera.js").read_text()).group(1))
CLIP_SEED, CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 21, 150, 256, 25  # 6 s of a face moving, looped by the fake camera
SAMPLES, SAMPLE_EVERY = 80, 0.1  # what the page shows is read this many times, this many seconds apart
FOLLOW = 0.8  # the animated face's position must correlate with the clip's (x and y): 0.95-0.98 measured, ~0 unmoved


@pytest.fixture(scope="module")
def clip():
    from fomm_nb.data import make_video

    return make_video(seed=CLIP_SEED, num_frames=CLIP_FRAMES, size=CLIP_SIZE)


@pytest.fixture(scope="module")
def read_landmarks_of():
    """``images (T, S, S, 3) -> landmarks (T, L, 2)`` in pixels, as the evaluation reads them.

    The evaluation's independent detector (:mod:`fomm_nb.landmarks`) when its weights are there; until
    they are, the reader the evaluation used before it: the bundled model's keypoints mapped to landmarks
    by a ridge regression fitted on the training split of the procedural faces.
    """
    from fomm_nb.errors import CheckpointError
    from fomm_nb.landmarks import load_landmark_detector, read_landmarks

    try:
        detector = load_landmark_detector()
        return lambda images: read_landmarks(detector, images)
    except CheckpointError as error:
        print(f"\nthe landmark detector is not there ({error}); reading landmarks with the keypoint regressor")
    from fomm_nb.animate import AnimationEngine
    from fomm_nb.data.procedural import make_video, split_seed
    from fomm_nb.hub import get_model

    engine = AnimationEngine(get_model("demo", device="cpu"), batch_size=8)
    features = lambda images: np.c_[engine.detect(images)["value"].flatten(1).double().numpy(), np.ones(len(images))]  # noqa: E731
    videos = [make_video(split_seed("train", index), 8, engine.model.image_size) for index in range(40)]
    x = np.concatenate([features(video.frames) for video in videos])
    y = np.concatenate([video.landmarks.reshape(8, -1) for video in videos])
    weights = np.linalg.solve(x.T @ x + 1e-3 * np.eye(x.shape[1]), x.T @ y)
    return lambda images: (features(np.asarray(images)) @ weights).reshape(len(images), -1, 2)


def _nearest_frames(seen, frames):
    """For each camera picture ``(N, h, w, 3)``, the index of the clip frame ``(T, h, w, 3)`` it shows."""
    distances = ((seen[:, None] - frames[None]) ** 2).mean(axis=(2, 3, 4))  # (N, T)
    return distances.argmin(axis=1), distances.min(axis=1)


def test_the_animated_picture_follows_the_fake_camera(clip, read_landmarks_of, tmp_path):
    from fomm_nb.media import fit_frame

    _requirements()
    size = 64  # the bundled model's, which the live page uses
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    camera_clip = write_y4m(tmp_path / "clip.y4m", clip.frames, CLIP_FPS)
    messages, seen, shown, ages = [], [], [], []
    with voila(LIVE_PAGE, tmp_path) as url, chromium(tmp_path / "profile", camera_clip, messages) as page:
        open_live_page(page, url)
        time.sleep(1.0)
        for _ in range(SAMPLES):
            camera, animated, age = grab_frames(page, size)
            seen.append(camera)
            shown.append(animated)
            ages.append(age)
            time.sleep(SAMPLE_EVERY)
        stats = live_stats(page)
        page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
        # The fallback: the page plays the bundled clip through the same path.
        before = stats["shown"]
        page.locator(".fomm-live button", has_text="no camera? play a clip").click()
        page.wait_for_function(f"() => document.querySelector('.fomm-live-camera').fommLive.shown > {before + 10}",
                               timeout=60_000)
        clip_stats = live_stats(page)
        src = page.locator("video.fomm-live-video").evaluate("video => video.currentSrc")

    small = np.stack([fit_frame(frame, size) for frame in clip.frames])
    index, distance = _nearest_frames(np.stack(seen), small)
    found = read_landmarks_of(np.stack(shown)).mean(1)  # (N, 2): where the animated face is, in pixels
    # The picture shown was animated from a camera frame captured `age` ms before the preview was read: compare
    # it with the clip that many frames before the one the preview shows (the fake camera loops the clip).
    lag = np.round(np.array(ages) / 1000 * CLIP_FPS).astype(int)  # (N,) clip frames
    truth = clip.landmarks[(index - lag) % CLIP_FRAMES].mean(1)  # (N, 2)
    follow = [np.corrcoef(found[:, axis], truth[:, axis])[0, 1] for axis in (0, 1)]
    change = np.abs(np.diff(np.stack(shown), axis=0)).mean(axis=(1, 2, 3))
    match = re.match(READOUT_PATTERN, stats["readout"])
    latencies = np.array(stats["latencies"])
    print(f"\nlive page: {stats['shown']} frames shown, {stats['dropped']} dropped, readout {stats['readout']!r}, "
          f"latency median {np.median(latencies):.0f} ms p95 {np.percentile(latencies, 95):.0f} ms; "
          f"{len(set(index))} clip frames seen (camera match error {distance.max():.4f}); "
          f"animated face follows the clip {np.median(lag):.0f} frames earlier (median): r = {follow[0]:.2f} (x), {follow[1]:.2f} (y); "
          f"fallback: {clip_stats['shown'] - before} frames from the clip")
    errors = _console_errors(messages)
    assert not stats["message"] and stats["errors"] == 0, f"the page said {stats['message']!r} (console: {errors[-5:]})"
    assert match and float(match.group(1)) > 0 and int(match.group(2)) > 0, f"readout {stats['readout']!r}"
    assert distance.max() < 0.01, "the camera preview does not show the clip's frames"
    assert len(set(index)) > SAMPLES // 3, "the camera did not move through the clip"
    blank = int((np.stack(shown).max(axis=(1, 2, 3)) < 0.05).sum())
    assert blank == 0, f"the animated picture read blank {blank} times of {SAMPLES} (shown while the next one decoded?)"
    assert (change > 0.005).mean() > 0.5, f"the animated picture did not change over time: {change.round(4)}"
    assert min(follow) > FOLLOW, f"the animated face does not follow the clip: r = {follow}"
    assert src.startswith("blob:"), "the fallback clip is not playing"


def _own_address():
    """An address of this machine that is not loopback (a page there is not a secure context), or None."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _message_after_start(page, url):
    page.goto(url, timeout=120_000)
    page.wait_for_function(f"() => {{ const m = document.querySelector('{CAMERA} .fomm-live-message');"
                           " return m && m.textContent.length > 0 && !m.textContent.startsWith('Asking'); }",
                           timeout=120_000)
    return page.locator(f"{CAMERA} .fomm-live-message").inner_text()


def test_refused_camera_and_insecure_page_are_said_and_the_clip_still_plays(clip, tmp_path):
    _requirements()
    camera_clip = write_y4m(tmp_path / "clip.y4m", clip.frames[:10], CLIP_FPS)
    address = _own_address()
    messages = []
    with voila(LIVE_PAGE, tmp_path, ip="0.0.0.0") as url, \
            chromium(tmp_path / "profile", camera_clip, messages, grant=False) as page:
        refused = _message_after_start(page, url)
        page.locator(".fomm-live button", has_text="no camera? play a clip").click()
        page.wait_for_function(f"() => document.querySelector('{CAMERA}').fommLive.shown > 5", timeout=60_000)
        after_clip = live_stats(page)["message"]
        insecure = _message_after_start(page, url.replace("127.0.0.1", address)) if address else None
    print(f"\nrefused: {refused!r}\ninsecure ({address}): {insecure!r}")
    assert refused.startswith("Camera permission was refused.") and "\n" not in refused
    assert after_clip == "", f"the clip plays, yet the page still says {after_clip!r}"
    if address is None:
        pytest.skip("this machine has no address but loopback: the insecure page cannot be opened")
    assert insecure.startswith("The camera needs a secure page") and f"http://{address}" in insecure


def test_fomm_nb_serve_serves_the_live_app(clip, tmp_path):
    """``fomm-nb serve --app live``: its page template and preheated kernel, and the camera frames flow."""
    from fomm_nb.serve import make_plan
    from fomm_nb.serve.plan import apps_folder
    from fomm_nb.serve.server import VoilaServer
    from test_browser import START_TIMEOUT, _free_port

    _requirements()
    camera_clip = write_y4m(tmp_path / "clip.y4m", clip.frames[:50], CLIP_FPS)
    plan = make_plan("live", 1, "127.0.0.1", _free_port(), None, apps_folder())
    messages = []
    with VoilaServer(plan, echo=None) as server:
        server.wait_until_ready(START_TIMEOUT)
        with chromium(tmp_path / "profile", camera_clip, messages) as page:
            open_live_page(page, plan.address, shown=10)
            stats = live_stats(page)
    print(f"\nfomm-nb serve --app live: {stats['shown']} frames shown, readout {stats['readout']!r}")
    assert re.match(READOUT_PATTERN, stats["readout"]), stats["readout"]
    assert not stats["message"] and stats["errors"] == 0, stats["message"]


def _fake_kernel_run(page, url, seconds, work, wire, answer=True):
    """The page against the fake kernel for ``seconds``, after its first answers: the page's figures and the kernel's counts."""
    page.goto(f"{url}?work={work}&wire={wire}&answer={int(answer)}", timeout=60_000)
    page.wait_for_function(f"() => {{ const el = document.querySelector('{CAMERA}');"
                           f" return el && el.fommLive && el.fommLive.{'shown' if answer else 'sent'} >= 3; }}",
                           timeout=60_000)
    before = live_stats(page)
    time.sleep(seconds)
    after = live_stats(page)
    kernel = page.evaluate("() => ({...window.fakeKernel})")
    latencies = np.array(after["latencies"][len(before["latencies"]):])
    return {"fps": (after["shown"] - before["shown"]) / seconds, "camera_fps": (after["camera"] - before["camera"]) / seconds,
            "latencies": latencies, "sent": after["sent"], "most_on_wire": after["most_on_wire"], **kernel}


def test_the_page_sends_while_the_kernel_works_and_the_kernel_drops_what_comes_meanwhile(clip, tmp_path):
    _requirements()
    camera_clip = write_y4m(tmp_path / "clip.y4m", clip.frames[:50], CLIP_FPS)
    messages = []
    with fake_kernel_page(tmp_path / "page") as url, chromium(tmp_path / "profile", camera_clip, messages) as page:
        # A kernel faster than the camera (25 ms a frame) behind a slow wire (25 ms each way): a round trip of 75 ms.
        fast = _fake_kernel_run(page, url, 4.0, work=25, wire=25)
        # A slow kernel (300 ms a frame, vox-256 on a CPU).
        slow = _fake_kernel_run(page, url, 4.0, work=300, wire=20)
    for name, run in (("fast", fast), ("slow", slow)):
        print(f"\n{name} kernel: {run['fps']:.1f} fps shown of {run['camera_fps']:.1f} from the camera; latency median "
              f"{np.median(run['latencies']):.0f} ms, max {run['latencies'].max():.0f} ms; kernel animated "
              f"{run['animated']}, dropped {run['dropped']}; most frames unanswered at once: {run['most_on_wire']}")
    stop_and_wait = 1000 / (25 + 2 * 25)  # fps when the page waits for each answer before sending the next frame
    assert fast["fps"] > 1.2 * stop_and_wait and fast["fps"] >= 0.75 * fast["camera_fps"], \
        f"a kernel faster than the camera shows {fast['fps']:.1f} fps of the camera's {fast['camera_fps']:.1f}"
    assert np.median(fast["latencies"]) < 25 + 2 * 25 + 40, "frames waited on their way"
    # The slow kernel: frames sent while it works are dropped there, not queued; each shown frame went straight to work.
    assert slow["dropped"] > slow["animated"], "the page did not send while the kernel worked"
    assert slow["latencies"].max() < 300 + 2 * 20 + 150, f"latencies up to {slow['latencies'].max():.0f} ms: a queue"
    assert slow["fps"] > 0.6 * 1000 / (300 + 40), f"{slow['fps']:.1f} fps: the kernel idled between frames"
    assert fast["most_on_wire"] <= MAX_ON_WIRE and slow["most_on_wire"] <= MAX_ON_WIRE


def test_a_kernel_that_stops_answering_gets_a_few_frames_not_a_backlog(clip, tmp_path):
    _requirements()
    camera_clip = write_y4m(tmp_path / "clip.y4m", clip.frames[:50], CLIP_FPS)
    messages = []
    with fake_kernel_page(tmp_path / "page") as url, chromium(tmp_path / "profile", camera_clip, messages) as page:
        stalled = _fake_kernel_run(page, url, 2.0, work=25, wire=5, answer=False)
    print(f"\na kernel that never answers: {stalled['camera_fps']:.1f} camera fps, frames sent {stalled['sent']}, "
          f"received {stalled['received']}")
    assert stalled["camera_fps"] > 5, "the fake camera gave no frames"
    assert stalled["sent"] == stalled["received"] == stalled["most_on_wire"] == MAX_ON_WIRE
