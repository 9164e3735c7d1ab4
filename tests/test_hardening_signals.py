"""SIGTERM stops ``fomm-nb animate`` as Ctrl-C does: exit 143, one line, nothing new in the output folder;
after a SIGKILL, the next run in that folder removes the killed run's partial files.

A real console-script process is stopped while it writes frames (a hidden
partial file ``.fomm-<pid>-...`` is beside the output); an older result at
the output path must come out byte for byte as it was.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fomm_nb.cli import EXIT_TERMINATED
from fomm_nb.media import write_image, write_video

from conftest import files_below

FOMM_NB = Path(sys.executable).with_name("fomm-nb")


def wait_for_writing(folder, process, limit=120):
    """Return once ``process`` is writing frames: its partial files are in ``folder``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        if any(path.stat().st_size > 0 for path in folder.glob(f".fomm-{process.pid}-*")):
            return
        time.sleep(0.05)
    raise AssertionError("the animation did not start writing in time")


@pytest.fixture
def folders(tmp_path):
    """``(inputs, out)``: a photo and a 600-frame video; an output folder with an older result and a note."""
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    write_image(inputs / "face.png", rng.random((64, 64, 3)))
    write_video(inputs / "long.mp4", rng.random((600, 64, 64, 3)), fps=25)
    (out / "result.mp4").write_bytes(b"an older result")
    (out / "notes.txt").write_text("the user's own file")
    return inputs, out


def animate(inputs, out, driving="long.mp4"):
    return [str(FOMM_NB), "animate", "--source", str(inputs / "face.png"), "--driving", str(inputs / driving),
            "--model", "demo", "--device", "cpu", "--out", str(out / "result.mp4"), "--side-by-side", str(out / "sbs.mp4")]


def stopped_while_writing(argv, folder, sent):
    """Start ``argv``, send ``sent`` once it writes into ``folder``; its exit status and stderr."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_writing(folder, process)
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, stderr


def test_sigterm_while_writing_exits_143_and_leaves_the_output_folder_as_it_was(folders):
    """(Ctrl-C, the same path with status 130, is tested in test_cli.py.)"""
    inputs, out = folders
    before = files_below(inputs.parent)
    status, stderr = stopped_while_writing(animate(inputs, out), out, signal.SIGTERM)
    assert status == EXIT_TERMINATED == 143, stderr[-2000:]
    assert stderr.endswith("\nfomm-nb: terminated; nothing was written\n") and "Traceback" not in stderr
    assert files_below(inputs.parent) == before


def test_the_next_run_removes_the_partial_files_of_a_killed_run(folders):
    inputs, out = folders
    status, _ = stopped_while_writing(animate(inputs, out), out, signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert list(out.glob(".fomm-*")), "a killed run cannot clean up: its partial files are there"
    write_video(inputs / "short.mp4", np.random.default_rng(1).random((3, 64, 64, 3)), fps=25)
    completed = subprocess.run(animate(inputs, out, "short.mp4"), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt", "result.mp4", "sbs.mp4"]
