"""The video-folder data set in the published layout, on real files."""

import numpy as np
import pytest

from fomm_nb.data.video_folder import VideoFolder, _RGB_TO_YIQ, _rotate_hue, colour_jitter
from fomm_nb.errors import InputError
from fomm_nb.media import write_image, write_video


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(0)
    train = tmp_path / "train"
    train.mkdir()
    (tmp_path / "test").mkdir()
    write_video(train / "id1#a.mp4", rng.random((4, 40, 48, 3)), fps=10)
    write_video(train / "id1#b.gif", rng.random((3, 40, 40, 3)), fps=10)
    frames = train / "id2#c"
    frames.mkdir()
    for t in range(3):
        write_image(frames / f"{t:03d}.png", rng.random((32, 32, 3)))
    return tmp_path


def test_items_are_pairs_at_the_requested_size(root):
    dataset = VideoFolder(root, "train", size=24)
    assert len(dataset) == 3
    for index in range(3):
        item = dataset[index]
        assert item["source"].shape == (3, 24, 24) and item["driving"].shape == (3, 24, 24)
        assert 0 <= float(item["source"].min()) and float(item["source"].max()) <= 1


def test_id_sampling_groups_by_identity(root):
    dataset = VideoFolder(root, "train", size=16, id_sampling=True)
    assert len(dataset) == 2 and [len(group) for group in dataset.groups] == [2, 1]


def test_colour_jitter_changes_all_frames_alike():
    frames = np.random.default_rng(1).random((2, 8, 8, 3)).astype(np.float32)
    jittered = colour_jitter(np.stack([frames[0], frames[0]]), np.random.default_rng(2))
    assert np.allclose(jittered[0], jittered[1]) and not np.allclose(jittered[0], frames[0])


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        VideoFolder(tmp_path, "train")
    (tmp_path / "train").mkdir()
    with pytest.raises(InputError, match="holds no videos"):
        VideoFolder(tmp_path, "train")


def test_hue_rotation_keeps_luma_and_is_undone_by_the_opposite_turn():
    frames = np.random.default_rng(3).random((2, 8, 8, 3)).astype(np.float32)
    turned = _rotate_hue(frames, 0.2)
    assert np.allclose(turned @ _RGB_TO_YIQ[0], frames @ _RGB_TO_YIQ[0], atol=1e-5)
    assert not np.allclose(turned, frames, atol=1e-2)
    assert np.allclose(_rotate_hue(turned, -0.2), frames, atol=1e-5)
