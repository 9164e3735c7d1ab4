"""Writes that appear whole or not at all, and partial files that the next run clears away.

* An existing output is replaced only in one step at the end: while a write
  runs, and after it fails or is interrupted (an exception, Ctrl-C), the old
  file is byte for byte what it was, and no partial file is left.
* A run killed outright (SIGKILL) leaves its partial file; the next write
  into that folder removes it, and never a file of a live process, nor any
  file that is not a partial file.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fomm_nb import InputError, MediaError
from fomm_nb.media import VideoWriter, mux_audio, read_video, write_image, write_video
from fomm_nb.media.files import partial_beside, remove_stale_partials, replacing

from conftest import MEDIA, wait_until

OLD = b"the user's older result, which must survive"
PARTIAL_NAME = re.compile(r"\.fomm-(\d+)-[0-9a-f]{8}\.(.+)\.part(\.\w+)$")


def frames(count=4, size=(48, 64)):
    return np.random.default_rng(0).random((count, *size, 3), dtype=np.float32)


def names(folder):
    return sorted(path.name for path in folder.iterdir())


def partials(folder):
    return [name for name in names(folder) if PARTIAL_NAME.fullmatch(name)]


def test_a_partial_file_is_named_by_its_process_and_target(tmp_path):
    partial = partial_beside(tmp_path / "result.mp4")
    match = PARTIAL_NAME.fullmatch(partial.name)
    assert match and match.groups() == (str(os.getpid()), "result.mp4", ".mp4") and partial.parent == tmp_path


def test_the_old_file_is_untouched_while_a_video_is_written(tmp_path):
    target = tmp_path / "result.mp4"
    target.write_bytes(OLD)
    with VideoWriter(target, fps=10) as writer:
        for frame in frames(8):
            writer.append(frame)
            assert target.read_bytes() == OLD  # ffmpeg writes elsewhere
        wait_until(lambda: len(partials(tmp_path)) == 1, 20, "ffmpeg's one partial file")  # opened when ffmpeg is ready
    assert read_video(target)[0].shape == (8, 48, 64, 3) and names(tmp_path) == ["result.mp4"]


def interrupted_video(target):
    with VideoWriter(target, fps=10) as writer:
        for frame in frames(6):
            writer.append(frame)
        raise KeyboardInterrupt


def video_with_a_bad_frame(target):
    write_video(target, [*frames(5), np.zeros((10, 10, 3), np.float32)], fps=10)


def image_too_wide_for_jpeg(target):
    write_image(target.with_suffix(".jpg"), np.zeros((2, 70_000, 3), np.uint8))


def sound_from_a_broken_file(target):
    write_video(target.with_name("silent.mp4"), frames(3), fps=10)
    broken = target.with_name("broken.mp4")
    broken.write_bytes((MEDIA / "tone.mp4").read_bytes()[:3000])  # a header that promises sound, then nothing
    mux_audio(target.with_name("silent.mp4"), broken, target)


def interrupted_replacing(target):
    with replacing(target) as partial:
        partial.write_bytes(b"half of the new file")
        raise KeyboardInterrupt


@pytest.mark.parametrize("write, error", [
    (interrupted_video, KeyboardInterrupt),
    (video_with_a_bad_frame, InputError),
    (image_too_wide_for_jpeg, MediaError),
    (sound_from_a_broken_file, MediaError),
    (interrupted_replacing, KeyboardInterrupt),
])
def test_an_interrupted_write_leaves_the_old_file_byte_for_byte(tmp_path, write, error):
    target = tmp_path / "result.mp4"
    target.write_bytes(OLD)
    target.with_suffix(".jpg").write_bytes(OLD)
    before = set(names(tmp_path))
    with pytest.raises(error):
        write(target)
    assert target.read_bytes() == OLD and target.with_suffix(".jpg").read_bytes() == OLD
    assert partials(tmp_path) == [] and set(names(tmp_path)) - before <= {"silent.mp4", "broken.mp4"}


def dead_pid():
    """The number of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_partials_of_ended_processes_go_and_nothing_else(tmp_path):
    ended = tmp_path / f".fomm-{dead_pid()}-0123abcd.result.mp4.part.mp4"
    alive_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".fomm-{alive_process.pid}-4567cdef.result.mp4.part.mp4"
        mine = tmp_path / f".fomm-{os.getpid()}-89abcdef.side.mp4.part.mp4"
        others = ["result.mp4", ".fomm-notes.txt", f".fomm-{dead_pid()}-0123abcd.mp4", "clip.part.mp4"]
        for path in [ended, alive, mine, *(tmp_path / name for name in others)]:
            path.write_bytes(b"some bytes")
        write_video(tmp_path / "new.mp4", frames(2), fps=10)  # the first write into the folder sweeps it
        assert not ended.exists()
        assert alive.exists() and mine.exists() and all((tmp_path / name).exists() for name in others)
    finally:
        alive_process.kill()
        alive_process.wait()


def test_a_partial_older_than_the_process_with_its_number_is_stale(tmp_path):
    """The number was taken again by a process that started after the file was last written."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        partial = tmp_path / f".fomm-{process.pid}-0123abcd.result.mp4.part.mp4"
        partial.write_bytes(b"half a video")
        an_hour_ago = time.time() - 3600
        os.utime(partial, (an_hour_ago, an_hour_ago))
        if not Path(f"/proc/{process.pid}/stat").exists():
            pytest.skip("process start times are read from /proc (Linux)")
        assert remove_stale_partials(tmp_path) == [partial] and not partial.exists()
    finally:
        process.kill()
        process.wait()


WRITER = """
import sys, numpy as np
from fomm_nb.media import VideoWriter
with VideoWriter(sys.argv[1], fps=10) as writer:
    for index in range(100_000):
        writer.append(np.full((64, 64, 3), index % 256, np.uint8))
        if index == 5:
            print("writing", flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_after_a_sigkill_the_next_write_removes_the_partial_file(tmp_path):
    target = tmp_path / "result.mp4"
    target.write_bytes(OLD)
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "writing\n"
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = partials(tmp_path)
    assert len(left) == 1 and PARTIAL_NAME.fullmatch(left[0])[1] == str(process.pid)
    assert target.read_bytes() == OLD  # killed mid-way: the old file is whole
    write_image(tmp_path / "next.png", frames(1)[0])  # the next run writes into the folder
    assert names(tmp_path) == ["next.png", "result.mp4"] and target.read_bytes() == OLD
