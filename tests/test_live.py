"""The live camera's kernel side, without a browser: the frame protocol, back-pressure, neutral pose, recording.

The page's messages are made here as the page makes them (a JPEG of the
model's size, a frame number, a capture time in ms); the bundled model
animates them. The browser side is tested in ``test_browser_live.py``.
"""

import threading
import time

import numpy as np
import pytest
import torch

from fomm_nb.data import make_video
from fomm_nb.errors import DownloadError
from fomm_nb.hub import get_model
from fomm_nb.media import read_video
from fomm_nb.motion import MotionOptions
from fomm_nb.widgets import LiveApp
from fomm_nb.widgets.common import encode_image
from fomm_nb.widgets.live_session import LiveRecorder, LiveSession, decode_frame

JPEG_LEVELS = 0.03  # mean difference one JPEG round trip of a cartoon frame leaves (of 1)


@pytest.fixture(scope="module")
def model():
    return get_model("demo", device="cpu")


@pytest.fixture(scope="module")
def clip(model):
    return make_video(seed=7, num_frames=12, size=model.image_size)


def _frame(clip, index, t=None):
    return {"type": "frame", "id": index, "t": 40.0 * index if t is None else t}, [encode_image(clip.frames[index])]


def _session(model, clip, **kwargs):
    source = make_video(seed=3, num_frames=1, size=model.image_size).frames[0]
    return LiveSession(model, source, smoothing=kwargs.pop("smoothing", "none"), **kwargs)


def test_a_frame_comes_back_animated_with_its_number_time_and_keypoints(model, clip):
    session = _session(model, clip)
    session.process(*_frame(clip, 0))  # the neutral pose
    header, buffers = session.process(*_frame(clip, 5, t=1234.5))
    assert (header["type"], header["id"], header["t"]) == ("result", 5, 1234.5)
    keypoints = np.array(header["keypoints"])
    assert keypoints.shape == (model.config.num_kp, 2) and np.abs(keypoints).max() <= 1
    animated = decode_frame(buffers[0], model.image_size)
    # The same frame through the engine directly, from the same neutral pose.
    engine = session.engine
    expected = engine.render(engine.detect(decode_frame(_frame(clip, 5)[1][0], model.image_size)))[0]
    expected = expected.permute(1, 2, 0).numpy()
    assert np.abs(animated - expected).mean() < JPEG_LEVELS
    still = decode_frame(session.process(*_frame(clip, 0))[1][0], model.image_size)
    assert np.abs(animated - still).mean() > 3 * JPEG_LEVELS / 10, "the picture did not move with the camera"


def test_bad_bytes_give_one_line_and_the_next_frame_goes_on(model, clip):
    answers = []
    session = _session(model, clip, send=lambda header, buffers: answers.append((header, buffers)))
    truncated = _frame(clip, 1)[1][0][:200]
    for index, payload in enumerate([b"", b"garbage", truncated, encode_image(np.zeros((8, 8, 3))), None]):
        buffers = [] if payload is None else [payload]
        assert session.receive({"type": "frame", "id": index, "t": 0.0}, buffers)
        session.gate.wait()
    session.receive(*_frame(clip, 3))
    session.gate.wait()
    kinds = [header["type"] for header, _ in answers]
    assert kinds == ["error", "error", "error", "result", "error", "result"], kinds
    for header, buffers in answers:
        if header["type"] == "error":
            assert header["message"].startswith(f"camera frame {header['id']}")
            assert "\n" not in header["message"] and buffers == []
    assert "not a JPEG or WebP picture" in answers[1][0]["message"]
    assert session.counts == {"received": 6, "animated": 2, "dropped": 0, "bad": 4}


def test_frames_that_arrive_while_one_is_animated_are_dropped_not_queued(model, clip):
    release, answers = threading.Event(), []
    session = _session(model, clip, send=lambda header, buffers: answers.append(header))
    animate = session.animate
    session.animate = lambda *args: (release.wait(10), animate(*args))[1]  # a slow model: busy until released
    assert session.receive(*_frame(clip, 0))
    taken = [session.receive(*_frame(clip, index)) for index in range(1, 6)]
    assert taken == [False] * 5
    assert [header["type"] for header in answers] == ["dropped"] * 5  # answered at once, so the page sends again
    release.set()
    session.gate.wait()
    assert session.receive(*_frame(clip, 6))
    session.gate.wait()
    assert [header["id"] for header in answers if header["type"] == "result"] == [0, 6]
    assert session.counts["dropped"] == 5 and session.counts["animated"] == 2


def test_under_a_flood_of_frames_no_frame_waits_for_another(model, clip):
    """Frames offered every millisecond for a second: each answered frame went straight to work, none waited in a queue."""
    answered = {}
    session = _session(model, clip, send=lambda header, buffers: answered.setdefault(header["id"], (header, time.perf_counter())))
    offered = {}
    deadline = time.perf_counter() + 1.0
    index = 0
    while time.perf_counter() < deadline:
        offered[index] = time.perf_counter()
        session.receive({"type": "frame", "id": index, "t": 0.0}, _frame(clip, index % 12)[1])
        index += 1
        time.sleep(0.001)
    session.gate.wait()
    waited = [answered[i][1] - offered[i] - header["work_ms"] / 1000
              for i, (header, _) in answered.items() if header["type"] == "result"]
    animated = session.counts["animated"]
    assert animated >= 5 and session.counts["dropped"] == index - animated == len(answered) - animated
    # Beyond its own work, a frame waits only for a thread switch; in a queue it would wait for every frame before it.
    assert max(waited) < 0.1, f"a frame waited {max(waited):.2f} s beyond its own work ({index} frames offered)"


def test_the_neutral_pose_button_makes_the_next_frame_the_rest_pose(model, clip):
    session = _session(model, clip)
    engine = session.engine
    rest = engine.animate_keypoints(engine.kp_source, return_intermediates=False)[0].permute(1, 2, 0).numpy()

    def shown(index):
        return decode_frame(session.process(*_frame(clip, index))[1][0], model.image_size)

    shown(0)  # the first frame is the neutral pose
    moved = shown(8)
    assert np.abs(moved - rest).mean() > 3 * JPEG_LEVELS / 10
    session.set_neutral()
    assert np.abs(shown(8) - rest).mean() < JPEG_LEVELS, "frame 8 as the neutral pose should show the picture at rest"
    assert np.abs(shown(0) - rest).mean() > 3 * JPEG_LEVELS / 10  # and frame 0 now moves it


def test_a_new_picture_keeps_the_neutral_pose(model, clip):
    session = _session(model, clip)
    session.process(*_frame(clip, 0))  # the neutral pose
    session.set_source(make_video(seed=5, num_frames=1, size=model.image_size).frames[0])
    engine = session.engine
    rest = engine.animate_keypoints(engine.kp_source, return_intermediates=False)[0].permute(1, 2, 0).numpy()
    moved = decode_frame(session.process(*_frame(clip, 8))[1][0], model.image_size)
    assert np.abs(moved - rest).mean() > 3 * JPEG_LEVELS / 10, "frame 8 became the neutral pose"


def test_absolute_motion_and_movement_scale_reach_the_engine(model, clip):
    app = LiveApp()
    app.scale_slider.value = 0.0
    assert app.session.engine.options == MotionOptions(relative=1.0, movement_scale=0.0)
    app.motion_toggle.value = 0.0
    assert app.session.engine.options.relative == 0.0


def test_smoothing_filters_the_keypoints_sent_back(model, clip):
    raw, smoothed = _session(model, clip), _session(model, clip, smoothing="one-euro")
    for index in range(6):
        kp_raw = np.array(raw.process(*_frame(clip, index))[0]["keypoints"])
        kp_smooth = np.array(smoothed.process(*_frame(clip, index))[0]["keypoints"])
    detected = raw.engine.detect(decode_frame(_frame(clip, 5)[1][0], model.image_size))["value"][0].numpy()
    np.testing.assert_allclose(kp_raw, detected, atol=1e-4)
    assert 0 < np.abs(kp_smooth - kp_raw).max() < 0.2  # behind the raw keypoints, not elsewhere


def test_recording_writes_what_the_page_shows_in_real_time(model, clip, tmp_path):
    session = _session(model, clip)
    session.start_recording(tmp_path / "take.mp4", fps=25)
    for index in range(10):  # ten frames 100 ms apart (a slow model): 0.9 s at 25 fps, and the last one's slot
        session.process(*_frame(clip, index, t=100.0 * index))
    path = session.stop_recording()
    frames, fps = read_video(path)
    assert path == tmp_path / "take.mp4" and fps == 25
    assert frames.shape == (24, model.image_size, 2 * model.image_size, 3)  # camera | animated
    camera_half = frames[-1][:, : model.image_size]
    assert np.abs(camera_half - clip.frames[9]).mean() < 2 * JPEG_LEVELS
    assert session.stop_recording() is None  # nothing more to finish


def test_a_recording_without_frames_leaves_no_file(model, clip, tmp_path):
    session = _session(model, clip)
    session.start_recording(tmp_path / "empty.mp4")
    assert session.stop_recording() is None
    assert list(tmp_path.iterdir()) == []


def test_the_recorder_repeats_and_skips_frames_to_keep_real_time(tmp_path):
    recorder = LiveRecorder(tmp_path / "clock.mp4", fps=10)
    for seconds, level in ((0.0, 0.0), (0.25, 0.5), (0.26, 0.7), (0.6, 1.0)):
        recorder.add(np.full((16, 16, 3), level, np.float32), seconds)
    frames, _ = read_video(recorder.close())
    levels = np.round(frames.mean(axis=(1, 2, 3)), 1).astype(float)
    np.testing.assert_allclose(levels, [0.0, 0.0, 0.0, 0.7, 0.7, 0.7, 1.0], atol=0.02)  # 0.5 was replaced before its slot


def test_the_app_records_and_offers_a_download(tmp_path):
    app = LiveApp(work_dir=tmp_path)
    app.record_button.value = True
    driving, animated, fps = app.run_clip(max_frames=8)
    app.record_button.value = False
    assert driving.shape == animated.shape == (8, 64, 64, 3)
    assert 'download="live-1.mp4"' in app.download.value and "data:video/mp4;base64," in app.download.value
    assert read_video(tmp_path / "live-1.mp4", max_frames=1)[0].shape[1:] == (64, 128, 3)


def test_a_model_that_cannot_load_is_a_message_and_the_live_view_goes_on(tmp_path):
    def get(name):
        if name == "vox":
            raise DownloadError("vox-cpk.pth.tar: no network to download it from")
        return get_model(name, device="cpu")

    app = LiveApp(get_model=get, models=[("demo", "demo"), ("vox", "vox")], work_dir=tmp_path)
    session = app.session
    app.model_menu.value = "vox"
    assert app.model_menu.value == "demo" and app.session is session
    assert app.messages.outputs[0]["text"] == "vox-cpk.pth.tar: no network to download it from\n"
    assert app.run_clip(max_frames=2)[1].shape == (2, 64, 64, 3)


def test_the_camera_widget_hands_frames_to_the_session(tmp_path):
    app = LiveApp(work_dir=tmp_path)
    answers = []
    app.camera.send = lambda content, buffers=None: answers.append((content, buffers))
    frame = encode_image(torch.rand(3, 64, 64))
    app.camera._take_message({"type": "frame", "id": 41, "t": 5.0}, [memoryview(frame)])
    app.session.gate.wait()
    assert answers[-1][0]["type"] == "result" and answers[-1][0]["id"] == 41
    app.clip_button.click()
    assert app.camera.playing == "clip"
    app.camera_button.click()
    assert (app.camera.playing, app.camera.restarts) == ("camera", 1)
