"""The try-it app's every path, driven from Python with the bundled model and real files.

Each failure shows one line in the app (no traceback, no internal path) and
the status and buttons return to ready: a model that cannot be downloaded
(a real download from a 127.0.0.1 port that refuses connections), a picture
without a face, an upload that is not a picture, a video with no frames, and
an exception raised inside an Output context under a real IPython shell
(where ipywidgets' ``Output.__exit__`` swallows it). Then the result view,
the model menu, the photo hint, the thumbnails, and the fair Generate queue.
"""

import socket
import subprocess
import threading
import time
from datetime import datetime, timezone

import ipywidgets as widgets
import numpy as np
import pytest

from fomm_nb.download import fetch_checkpoint
from fomm_nb.hub import get_model
from fomm_nb.media import write_image, write_video
from fomm_nb.widgets.generate_queue import GenerateQueue
from fomm_nb.widgets.try_it import TryItApp


@pytest.fixture(scope="module")
def demo():
    return get_model("demo", device="cpu")


@pytest.fixture
def make_app(demo, tmp_path):
    """``make_app(get_model=..., models=...)``: an app on the bundled model with its own work folder and queue."""
    def make(get_model=lambda name: demo, models=(("demo", "demo"),)):
        return TryItApp(get_model=get_model, models=list(models), work_dir=tmp_path / "work",
                        queue=GenerateQueue(tmp_path / "queue", slots=1))
    return make


def upload(widget, path, name=None):
    data = path.read_bytes()
    widget.value = ({"name": name or path.name, "type": "", "size": len(data), "content": memoryview(data),
                     "last_modified": datetime.now(timezone.utc)},)


def message(app):
    outputs = app.messages.outputs
    return outputs[0]["text"] if outputs else ""


def assert_ready(app):
    assert app.state == "ready" and app.status.value.startswith("ready"), app.status.value
    assert not any(control.disabled for control in (app.generate_button, app.model_menu, app.source_upload))


def refusing_port():
    """A port on 127.0.0.1 where nothing listens (bound, then closed): connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_model_that_cannot_be_downloaded_says_where_to_get_it(demo, make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("FOMM_NB_HOME", str(tmp_path / "empty-cache"))
    url = f"http://127.0.0.1:{refusing_port()}/vox-cpk.pth.tar"
    app = make_app(get_model=lambda name: demo if name == "demo" else fetch_checkpoint(name, sources=[url]),
                   models=[("demo", "demo"), ("vox", "vox")])
    app.model_menu.value = "vox"  # choosing it starts the download
    text = message(app)
    assert text == (f"model vox could not be downloaded: download vox-cpk.pth.tar by hand from "
                    f"https://drive.google.com/file/d/1_v_xW1V52gZCZnXgh1Ap_gwA9YVIzUnS/view and put it in "
                    f"{tmp_path / 'empty-cache'}; or choose the model demo, which works offline\n")
    why = "".join(output["text"] for output in app.download_log.outputs)
    assert f"{url}: " in why and "vox-cpk.pth.tar: could not download it" in why  # each source's reason, below
    assert_ready(app)
    assert "that failed" in app.status.value
    app.generate()  # Generate tries again, and fails the same way
    assert message(app).startswith("model vox could not be downloaded: ") and app.result is None
    assert_ready(app)


def test_a_download_error_raised_inside_the_output_is_not_swallowed(make_app):
    """Under a real IPython shell, ``with Output():`` swallows exceptions; the app must still see the failure."""
    from IPython.core.interactiveshell import InteractiveShell

    def failing(name):
        print("downloading ...")  # goes to the download log
        raise ConnectionResetError("the server hung up")

    shell = InteractiveShell.instance()
    try:
        with widgets.Output():
            raise ValueError("swallowed")  # the precondition: in a shell, Output.__exit__ swallows exceptions
        app = make_app(get_model=failing, models=[("demo", "demo"), ("vox", "vox")])
        app.model_menu.value = "vox"
        assert message(app) == "ConnectionResetError: the server hung up\n"
        assert "vox" not in app._models and app.status.value.startswith("ready")
        assert_ready(app)
    finally:
        InteractiveShell.clear_instance()


def test_a_picture_without_a_face(make_app, tmp_path):
    app = make_app()
    picture = tmp_path / "gradient.png"
    write_image(picture, np.linspace(0, 1, 96 * 96 * 3, dtype=np.float32).reshape(96, 96, 3))
    upload(app.source_upload, picture)
    app.crop_menu.value = "face"
    assert app.paste_box.value  # paste-back is on by default for face crops
    app.generate()
    text = message(app)
    assert text.startswith("uploaded: gradient.png: no face found.") and "centre crop" in text
    assert str(app.work_dir) not in text and "fomm_nb" not in text and text.count("\n") == 1
    assert app.result is None and app.view.layout.display == "none"
    assert_ready(app)


def test_an_upload_that_is_not_a_picture_is_refused(make_app, tmp_path):
    app = make_app()
    before = app.source_menu.value
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture at all")
    upload(app.source_upload, notes)
    text = message(app)
    assert text.startswith("notes.png: cannot be used as the picture (") and text.count("\n") == 1
    assert str(app.work_dir) not in text
    assert app.source_menu.value == before and not any(label.startswith("uploaded") for label, _ in app.source_menu.options)
    assert_ready(app)


def test_a_bad_upload_keeps_an_earlier_upload_of_the_same_name(make_app, tmp_path):
    app = make_app()
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()
    write_image(good / "me.png", np.full((32, 32, 3), 0.5, np.float32))
    (bad / "me.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    upload(app.source_upload, good / "me.png")
    kept = app.source_menu.value
    upload(app.source_upload, bad / "me.png")
    assert message(app).startswith("me.png: cannot be used as the picture (")
    assert app.source_menu.value == kept and kept.read_bytes() == (good / "me.png").read_bytes()
    assert sorted(path.name for path in kept.parent.iterdir()) == ["me.png"]


def test_a_video_with_no_frames_is_refused(make_app, tmp_path):
    from imageio_ffmpeg import get_ffmpeg_exe

    app = make_app()
    silent = tmp_path / "sound-only.mp4"  # a real mp4 with an audio track and no video frames
    subprocess.run([get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "0.5",
                    str(silent)], check=True)
    before = app.driving_menu.value
    upload(app.driving_upload, silent)
    text = message(app)
    assert text.startswith("sound-only.mp4: cannot be used as the video (") and text.count("\n") == 1
    assert "no frames" in text or "no video" in text
    assert app.driving_menu.value == before
    assert_ready(app)


def test_generate_shows_the_labelled_result_with_download_buttons(make_app, one_thread):
    app = make_app()
    assert app.model_menu.label == "demo" and "Model <b>demo</b>" in app.status.value and "takes about" in app.status.value
    app.generate()
    assert message(app) == "" and app.result.num_frames == 125
    assert app.status.value.startswith("ready: 125 frames in ")
    assert app.view.layout.display is None and bytes(app.video.value)[4:8] == b"ftyp"
    assert app.video.width == "768" and app.video.height == "256"  # 3 x 64 pixels, 4 x (its natural size)
    assert "<span>source</span><span>driving</span><span>result</span>" in app.view.caption.value
    assert app.download.value.count('class="fomm-download" role="button"') == 2
    assert 'download="result.mp4"' in app.download.value and 'download="side_by_side.mp4"' in app.download.value
    assert_ready(app)


def test_the_model_menu_and_the_photo_hint(demo, tmp_path):
    app = TryItApp(get_model=lambda name: demo, work_dir=tmp_path / "work", queue=GenerateQueue(tmp_path / "q"))
    labels = [label for label, _ in app.model_menu.options]
    assert labels[0] == "demo · 64×64 · cartoon faces, trained by fomm-nb on procedural videos · bundled, works offline"
    assert [label.split(" · ")[0] for label in labels] == [name for _, name in app.model_menu.options]
    assert labels[1].startswith("vox · 256×256 · ") and labels[1].endswith("downloads on first use")
    assert app.hint.value == "" and app.use_photo_model.layout.display == "none"
    astronaut = dict(app.source_menu.options)["astronaut (scikit-image)"]
    app.source_thumbnails.pick(app._path(astronaut))  # a click on the astronaut's thumbnail
    assert app.source_menu.label == "astronaut (scikit-image)"
    assert "blurry cartoon" in app.hint.value and app.use_photo_model.layout.display is None
    app.model_menu.value = "nemo"  # a photo model: no hint (it fails to download, offline)
    assert app.hint.value == ""


def test_thumbnails_select_driving_videos_too(make_app):
    app = make_app()
    assert len(app.driving_thumbnails.images) == len(app.driving_menu.options) >= 2
    path = app.driving_thumbnails.items[1][1]
    app.driving_thumbnails.pick(path)
    assert app.driving_menu.label == app.driving_thumbnails.items[1][0]
    assert bytes(app.driving_thumbnails.images[0].value)[:2] == b"\xff\xd8"


def test_the_queue_is_first_come_first_served(tmp_path):
    queue = GenerateQueue(tmp_path, slots=1)
    events, positions = [], {i: [] for i in range(3)}

    def job(i):
        with queue.turn(on_wait=positions[i].append, poll=0.01):
            events.append(("start", i))
            time.sleep(0.15)
            events.append(("end", i))

    threads = []
    for i in range(3):
        threads.append(threading.Thread(target=job, args=(i,)))
        threads[-1].start()
        time.sleep(0.03)  # pressed in this order
    for thread in threads:
        thread.join()
    assert events == [("start", 0), ("end", 0), ("start", 1), ("end", 1), ("start", 2), ("end", 2)]
    assert positions == {0: [], 1: [1], 2: [2, 1]}
    assert queue.waiting() == 0


def test_a_ticket_of_an_ended_process_is_removed(tmp_path):
    ended = subprocess.Popen(["true"])
    ended.wait()
    (tmp_path / f"{0:020d}-{ended.pid}-dead.ticket").touch()
    with GenerateQueue(tmp_path, slots=1).turn(on_wait=lambda position: pytest.fail("waited for a dead process")):
        pass
    assert list(tmp_path.iterdir()) == []


def test_generate_says_it_is_queued_while_another_runs(make_app, one_thread):
    app = make_app()
    seen = []
    app.status.observe(lambda change: seen.append(change["new"]), names="value")
    holding, release = threading.Event(), threading.Event()

    def other_student():
        with app.queue.turn():
            holding.set()
            release.wait(30)

    other = threading.Thread(target=other_student)
    other.start()
    holding.wait(10)
    worker = threading.Thread(target=app.generate)
    worker.start()
    deadline = time.monotonic() + 30
    while not any("1 ahead of you" in text for text in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.state == "queued" and app.generate_button.disabled
    release.set()
    worker.join(60)
    other.join()
    assert any(text.startswith("<b>running</b>") for text in seen)
    assert app.status.value.startswith("ready: 125 frames") and message(app) == ""
    assert_ready(app)
