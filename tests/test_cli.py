"""The fomm-nb command: animate end to end, list models, and one-line errors with exit status 2."""

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fomm_nb import face
from fomm_nb.cli import main
from fomm_nb.media import read_video, write_video
from conftest import CARPHONE_FRAMES, OFFICIAL

MGIF = ["--model", str(OFFICIAL / "tiny-mgif.pth.tar"), "--config", str(OFFICIAL / "tiny-mgif.yaml")]


def run(args, capsys):
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_animate_writes_the_result_and_side_by_side(media, capsys):
    out = media / "result.mp4"
    status, stdout, _ = run(["animate", "--source", str(media / "face.png"), "--driving", str(media / "talk.mp4"),
                             *MGIF, "--out", str(out), "--side-by-side", str(media / "sbs.mp4"), "--batch-size", "2"], capsys)
    assert status == 0 and f"wrote {out} (5 frames at 12 fps)" in stdout
    frames, fps = read_video(out)
    assert frames.shape == (5, 256, 256, 3) and fps == pytest.approx(12)  # the config says 256 (the default)
    assert read_video(media / "sbs.mp4")[0].shape == (5, 256, 768, 3)
    assert sorted(p.name for p in media.iterdir()) == ["face.png", "result.mp4", "sbs.mp4", "talk.mp4"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--source": "missing.png"}, "missing.png: no such file"),
        ({"--driving": "face.png.txt"}, "face.png.txt: "),
        ({"--model": "voxx"}, "voxx: neither a known model"),
        ({"--config": "tiny-vox"}, "unknown config"),
    ],
)
def test_bad_input_is_one_line_with_status_2(media, capsys, change, message):
    (media / "face.png.txt").write_text("not a video")
    args = {"--source": str(media / "face.png"), "--driving": str(media / "talk.mp4"), "--out": str(media / "r.mp4"),
            "--model": MGIF[1], "--config": MGIF[3]}
    for key, value in change.items():
        args[key] = value if "/" in value or key in ("--model", "--config") else str(media / value)
    status, _, stderr = run(["animate", *[item for pair in args.items() for item in pair]], capsys)
    assert status == 2
    assert stderr.startswith("fomm-nb: error: ") and message in stderr and stderr.count("\n") == 1
    assert not (media / "r.mp4").exists()


def test_truncated_checkpoint_and_wrong_config(media, capsys, tmp_path):
    broken = tmp_path / "broken.pth.tar"
    broken.write_bytes((OFFICIAL / "tiny-mgif.pth.tar").read_bytes()[:1000])
    base = ["animate", "--source", str(media / "face.png"), "--driving", str(media / "talk.mp4"), "--out", str(media / "r.mp4")]
    status, _, stderr = run([*base, "--model", str(broken), "--config", MGIF[3]], capsys)
    assert status == 2 and "broken.pth.tar: damaged or truncated" in stderr
    status, _, stderr = run([*base, "--model", MGIF[1], "--config", str(OFFICIAL / "tiny-vox.yaml")], capsys)
    assert status == 2 and "jacobian head has 4 channels" in stderr
    assert not (media / "r.mp4").exists()


def test_models_lists_every_published_model(capsys):
    status, stdout, _ = run(["models"], capsys)
    assert status == 0
    for name in ("demo", "vox", "vox-adv", "taichi", "taichi-adv", "mgif", "fashion", "bair", "nemo"):
        assert f"\n{name} " in stdout


def test_console_script_runs_without_traceback(tmp_path):
    script = Path(sys.executable).with_name("fomm-nb")
    result = subprocess.run([str(script), "animate", "--source", str(tmp_path / "none.png"), "--driving", "x.mp4",
                             "--model", "demo"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "none.png: no such file" in result.stderr


def test_animate_with_face_crop_crop_picture_and_best_frame(real_media, tmp_path, capsys):
    photo, talk = real_media
    out, picture = tmp_path / "result.mp4", tmp_path / "crops.png"
    status, stdout, _ = run(["animate", "--source", str(photo), "--driving", str(talk), "--model", "demo",
                             "--device", "cpu", "--crop", "face", "--crop-picture", str(picture),
                             "--best-frame", "--out", str(out)], capsys)  # a bare --best-frame: by keypoints
    assert status == 0, stdout
    best = int(re.search(r"^best frame: (\d+) ", stdout, re.M).group(1))
    assert 0 <= best < CARPHONE_FRAMES
    assert f"wrote {out} ({CARPHONE_FRAMES} frames" in stdout and f"wrote {picture}" in stdout
    assert read_video(out)[0].shape == (CARPHONE_FRAMES, 64, 64, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.png", "result.mp4"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--crop", "face"], "face.png: no face found; "),  # the media fixture's picture is noise
        (["--best-frame", "landmarks"], "pip install face-alignment"),
    ],
)
def test_face_options_fail_in_one_line_with_status_2(media, capsys, monkeypatch, options, message):
    monkeypatch.setitem(sys.modules, "face_alignment", None)  # as where it is not installed
    face._landmark_model.cache_clear()
    try:
        status, _, stderr = run(["animate", "--source", str(media / "face.png"), "--driving", str(media / "talk.mp4"),
                                 *MGIF, "--out", str(media / "r.mp4"), *options], capsys)
    finally:
        face._landmark_model.cache_clear()
    assert status == 2
    assert stderr.startswith("fomm-nb: error: ") and message in stderr and stderr.count("\n") == 1
    assert not (media / "r.mp4").exists()


def test_ctrl_c_stops_animate_with_status_130_and_writes_nothing(media):
    """A real SIGINT once frames are being made: status 130, a message, the folder as it was."""
    write_video(media / "long.mp4", np.random.default_rng(1).random((300, 64, 64, 3)), fps=12)
    before = sorted(p.name for p in media.iterdir())
    script = Path(sys.executable).with_name("fomm-nb")
    process = subprocess.Popen([str(script), "animate", "--source", str(media / "face.png"), "--driving",
                                str(media / "long.mp4"), *MGIF, "--out", str(media / "result.mp4"), "--batch-size", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a shell's '&' ignores it
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stderr.read1(256), b"")))
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not re.search(rb"\| *[1-9]\d*/300 ", b"".join(chunks)):  # the progress bar counts the first frames
            assert process.poll() is None, f"ended before it could be interrupted: {b''.join(chunks).decode()}"
            assert time.monotonic() < deadline, "no frame made after 120 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join()
    stderr = b"".join(chunks).decode()
    assert process.returncode == 130, stderr
    assert "fomm-nb: interrupted" in stderr and "Traceback" not in stderr, stderr
    assert sorted(p.name for p in media.iterdir()) == before
