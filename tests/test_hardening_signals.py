"""SIGTERM stops ``fomm-nb animate`` as Ctrl-C does: exit 143, one line, nothing new in the output folder.

A real console-script process is stopped while it writes frames (its
hidden work folder beside the output holds a file); an older result at the
output path must come out byte for byte as it was.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fomm_nb.cli import EXIT_TERMINATED
from fomm_nb.media import write_image, write_video

FOMM_NB = Path(sys.executable).with_name("fomm-nb")


def wait_for_writing(folder, process, limit=120):
    """Return once ``process`` is writing frames: a file exists in its hidden work folder in ``folder``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        if any(path.is_file() for work in folder.glob(".fomm-*") for path in work.iterdir()):
            return
        time.sleep(0.05)
    raise AssertionError("the animation did not start writing in time")


def test_sigterm_while_writing_exits_143_and_leaves_the_output_folder_as_it_was(tmp_path):
    """(Ctrl-C, the same path with status 130, is tested in test_cli.py.)"""
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    write_image(inputs / "face.png", rng.random((64, 64, 3)))
    write_video(inputs / "long.mp4", rng.random((600, 64, 64, 3)), fps=25)
    (out / "result.mp4").write_bytes(b"an older result")
    (out / "notes.txt").write_text("the user's own file")
    before = {path.name: path.read_bytes() for path in [*out.iterdir(), *inputs.iterdir()]}
    process = subprocess.Popen([str(FOMM_NB), "animate", "--source", str(inputs / "face.png"), "--driving",
                                str(inputs / "long.mp4"), "--model", "demo", "--device", "cpu", "--out",
                                str(out / "result.mp4"), "--side-by-side", str(out / "sbs.mp4")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_writing(out, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == EXIT_TERMINATED == 143, stderr[-2000:]
    assert stderr.endswith("\nfomm-nb: terminated; nothing was written\n") and "Traceback" not in stderr
    assert {path.name: path.read_bytes() for path in [*out.iterdir(), *inputs.iterdir()]} == before
