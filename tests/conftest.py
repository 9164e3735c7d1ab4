"""Shared fixtures: the golden data of the published implementation (tests/fixtures/official)."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fomm_nb.runtime import torch_threads

OFFICIAL = Path(__file__).parent / "fixtures" / "official"
TINY_MODELS = ("tiny-vox", "tiny-mgif")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """Run the test on one torch thread: animation is faster so on a shared 2-core machine."""
    with torch_threads(1):
        yield


def wait_until(predicate, timeout, what):
    """Return once ``predicate()`` is true (asked every 0.2 s); fail after ``timeout`` seconds, naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def official_path(name):
    return OFFICIAL / name


def load_golden(name):
    """The reference arrays of ``name`` (``tiny-vox``, ``tiny-mgif`` or ``tiny-motion``) as torch tensors."""
    with np.load(OFFICIAL / f"{name}.npz") as arrays:
        return {key: torch.from_numpy(arrays[key]) for key in arrays.files}


def golden_kp(golden, prefix, t=None):
    suffix = "" if t is None else f"_{t}"
    return {"value": golden[f"{prefix}_value{suffix}"], "jacobian": golden[f"{prefix}_jacobian{suffix}"]}


MEDIA = Path(__file__).parent / "fixtures" / "media"
CARPHONE_FRAMES = 20  # the first 20 frames of the carphone clip: a talking head, and fast tests


@pytest.fixture(scope="session")
def real_media(tmp_path_factory):
    """``(photo, clip)``: scikit-image's astronaut (a png with a face) and carphone's first 20 frames (mp4)."""
    import skimage.data

    from fomm_nb.media import read_video, write_image, write_video

    folder = tmp_path_factory.mktemp("real-media")
    write_image(folder / "astronaut.png", skimage.data.astronaut())
    frames, fps = read_video(MEDIA / "carphone_pristine.mp4", max_frames=CARPHONE_FRAMES)
    write_video(folder / "carphone.mp4", frames, fps=fps)
    return folder / "astronaut.png", folder / "carphone.mp4"


@pytest.fixture
def media(tmp_path):
    """``tmp_path`` holding ``face.png`` (90x120 noise) and ``talk.mp4`` (5 frames of 100x100 noise at 12 fps)."""
    from fomm_nb.media import write_image, write_video

    rng = np.random.default_rng(0)
    write_image(tmp_path / "face.png", rng.random((90, 120, 3)))
    write_video(tmp_path / "talk.mp4", rng.random((5, 100, 100, 3)), fps=12)
    return tmp_path


def files_below(folder):
    """``{relative path: bytes}`` of every file below ``folder``, hidden ones too (a left-over temporary shows)."""
    return {path.relative_to(folder): path.read_bytes() for path in sorted(Path(folder).rglob("*")) if path.is_file()}
