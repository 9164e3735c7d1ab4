"""``fomm-nb demo``: the bundled model animates the bundled samples, offline, into a folder a browser can show."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fomm_nb.demo import SAMPLE_DRIVING
from fomm_nb.media import read_image, read_video

FOMM_NB = Path(sys.executable).with_name("fomm-nb")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run the console script as a user would, with an empty download cache: the bundled files must suffice."""
    folder = tmp_path_factory.mktemp("demo")
    environment = {**os.environ, "FOMM_NB_HOME": str(folder / "empty-cache")}
    completed = subprocess.run([str(FOMM_NB), "demo", "--out", str(folder / "out")], capture_output=True, text=True,
                               env=environment, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return folder / "out", completed.stdout


def test_demo_writes_the_videos_the_picture_and_the_page(demo):
    out, stdout = demo
    driving, fps = read_video(SAMPLE_DRIVING)
    result, result_fps = read_video(out / "result.mp4")
    assert result.shape == (len(driving), 64, 64, 3) and result_fps == pytest.approx(fps)
    side_by_side, _ = read_video(out / "side_by_side.mp4")
    assert side_by_side.shape == (len(driving), 256, 3 * 256, 3)
    assert read_image(out / "keypoints.png").shape[1] > 400
    page = (out / "index.html").read_text()
    assert 'src="side_by_side.mp4"' in page and 'src="keypoints.png"' in page
    assert "<span>source</span><span>driving</span><span>result</span></figcaption>" in page  # HTML, not in the frames
    for name in ("result.mp4", "side_by_side.mp4", "keypoints.png", "index.html"):
        assert f"wrote {out / name}" in stdout
    assert f"open {out / 'index.html'} in a browser" in stdout


def test_demo_result_moves_with_the_driving_video(demo):
    out, _ = demo
    result, _ = read_video(out / "result.mp4")
    driving, _ = read_video(SAMPLE_DRIVING)
    motion_of_result = abs(result[1:] - result[:-1]).mean()
    assert motion_of_result > 0.1 * abs(driving[1:] - driving[:-1]).mean(), "the animated face hardly moves"
    assert abs(result[0] - driving[0]).mean() > 0.05, "the result shows the driving identity, not the source"
