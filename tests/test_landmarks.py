"""The independent landmark detector: shapes, the shipped checkpoint, its held-out error clean and degraded."""

import numpy as np
import pytest
import torch

from fomm_nb.cli import main
from fomm_nb.data.procedural import LANDMARK_NAMES, make_video, split_seed
from fomm_nb.errors import CheckpointError
from fomm_nb.landmarks import (
    DETECTOR_PATH,
    LandmarkDetector,
    degrade,
    held_out_errors,
    load_landmark_detector,
    mirror_order,
    read_landmarks,
    save_landmark_detector,
    training_frames,
)

#: Stated bounds (pixels at 64x64) on 10 held-out videos x 32 frames; the card gives the measured figures.
CLEAN_BOUND, DEGRADED_BOUND = 0.18, 0.3


@pytest.fixture(scope="module")
def detector():
    return load_landmark_detector()


def test_shapes():
    detector = LandmarkDetector(num_landmarks=7, width=4).eval()
    assert detector(torch.rand(5, 3, 64, 64)).shape == (5, 7, 2)
    assert read_landmarks(detector, np.random.default_rng(0).random((3, 64, 64, 3))).shape == (3, 7, 2)
    assert read_landmarks(detector, np.zeros((70, 48, 48, 3)), batch_size=32).shape == (70, 7, 2)  # several batches


def test_a_heatmap_on_one_pixel_gives_that_pixel():
    """The soft-argmax returns pixel coordinates: all of the head's mass on (x=20, y=10) of the half-size map."""
    detector = LandmarkDetector(num_landmarks=1, width=4).eval()
    with torch.no_grad():
        detector.head.weight.zero_()
        detector.head.bias.fill_(0.0)
    logits = torch.full((1, 1, 32, 32), -1e4)
    logits[0, 0, 10, 20] = 0.0
    detector.head.forward = lambda features: logits  # the head's output, fixed
    found = detector(torch.zeros(1, 3, 64, 64))[0, 0]
    assert found.tolist() == pytest.approx([20 / 31 * 63, 10 / 31 * 63], abs=1e-4)


def test_a_fine_detector_reads_its_heatmaps_at_full_resolution():
    """With ``fine`` the head sees 64x64 features beside the first block's, and its mass on (x=20, y=10) is that pixel."""
    detector = LandmarkDetector(num_landmarks=1, width=4, fine=True).eval()
    seen = {}
    detector.stem.register_forward_hook(lambda module, inputs, output: seen.update(stem=output))
    detector.head.register_forward_hook(lambda module, inputs, output: seen.update(head=inputs[0]))
    logits = torch.full((1, 1, 64, 64), -1e4)
    logits[0, 0, 10, 20] = 0.0
    detector.head.forward = lambda features: logits  # the head's output, fixed; the hook still sees its input
    found = detector(torch.rand(1, 3, 64, 64))[0, 0]
    assert seen["head"].shape == (1, 4 // 2 + 4, 64, 64)
    assert torch.equal(seen["head"][:, 4 // 2:], seen["stem"])  # the skip: the first block's features, unpooled
    assert found.tolist() == pytest.approx([20, 10], abs=1e-4)


def test_training_from_a_detector_starts_from_the_weights_it_shares(tmp_path):
    """``--init``: the fine detector's shared convolutions are the half-resolution one's; its new blocks are its own."""
    half = LandmarkDetector(width=4, mirror=mirror_order(LANDMARK_NAMES))
    save_landmark_detector(half, tmp_path / "half.pth.tar", {"command": "fomm-nb train-landmarks --width 4"})
    out = tmp_path / "fine.pth.tar"
    assert main(["train-landmarks", "--out", str(out), "--steps", "1", "--lr", "0", "--frames", "4", "--batch-size",
                 "2", "--width", "4", "--videos", "1", "--fine", "--init", str(tmp_path / "half.pth.tar")]) == 0
    fine = load_landmark_detector(out)
    assert fine.settings["fine"] and fine.card["init_command"] == "fomm-nb train-landmarks --width 4"
    for name in ["stem.conv.weight", "down.1.conv.weight", "up.0.conv.weight", "up.1.conv.weight", "head.bias"]:
        assert torch.equal(fine.state_dict()[name], half.state_dict()[name]), name
    assert fine.head.weight.shape[1] == 4 // 2 + 4 and "up.2.conv.weight" not in half.state_dict()


def test_the_shipped_checkpoint_loads_with_weights_only_and_is_small():
    state = torch.load(DETECTOR_PATH, map_location="cpu", weights_only=True)
    assert set(state) == {"state_dict", "settings", "card"}
    assert DETECTOR_PATH.stat().st_size < 1_000_000
    assert state["card"]["command"].startswith("fomm-nb train-landmarks")


def test_held_out_error_clean_and_degraded_below_the_stated_bounds(detector):
    errors = held_out_errors(detector, num_videos=10,
                             conditions={"clean": (0.0, 0.0), "blur 1 px + noise 0.03": (1.0, 0.03)})
    assert errors["clean"] < CLEAN_BOUND
    assert errors["blur 1 px + noise 0.03"] < DEGRADED_BOUND


def test_the_card_reports_the_clean_error_a_recomputation_gives(detector):
    errors = held_out_errors(detector, num_videos=detector.card["held_out_videos"], conditions={"clean": (0.0, 0.0)})
    assert errors["clean"] == pytest.approx(detector.card["held_out_error_px/clean"], rel=1e-4)


@pytest.mark.parametrize("size", [128, 256])
def test_another_size_is_read_in_that_size(detector, size):
    """A larger render is resized for the detector and the landmarks mapped back: the error grows with the scale, no more."""
    video = make_video(split_seed("test", 3), num_frames=4, size=size)
    error = read_landmarks(detector, video.frames) - video.landmarks
    scale = size / detector.settings["image_size"]
    assert np.linalg.norm(error, axis=-1).mean() < scale * CLEAN_BOUND
    assert np.abs(error.reshape(-1, 2).mean(0)).max() < scale * 0.1, "no shift from the resize"


def test_training_frames_come_with_their_landmarks():
    frames, points = training_frames(6, size=32, per_video=4)  # one video and a half
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8 and points.shape == (6, 13, 2)
    assert np.isfinite(points).all()


def test_degrade_blurs_without_moving_and_adds_noise_of_the_stated_size():
    image = torch.zeros(1, 3, 21, 21)
    image[..., 10, 13] = 1.0
    blurred = degrade(image, torch.tensor([1.5]), torch.tensor([0.0]))
    grid = torch.arange(21.0)
    mass = blurred[0, 0]
    centre = ((mass.sum(0) * grid).sum() / mass.sum(), (mass.sum(1) * grid).sum() / mass.sum())
    assert [float(c) for c in centre] == pytest.approx([13.0, 10.0], abs=1e-5)
    assert float(mass.max()) < 0.1
    grey = torch.full((1, 3, 64, 64), 0.5)
    noisy = degrade(grey, torch.tensor([0.0]), torch.tensor([0.03]), torch.Generator().manual_seed(0))
    assert float((noisy - grey).std()) == pytest.approx(0.03, rel=0.05)


def test_a_missing_or_foreign_checkpoint_is_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_landmark_detector(tmp_path / "missing.pth.tar")
    with pytest.raises(CheckpointError, match="not a landmark detector checkpoint"):
        load_landmark_detector(DETECTOR_PATH.parent / "fomm-nb-faces.pth.tar")


def _with_mirror(detector, mirror):
    """The shipped weights in a detector that reads each frame and its mirror image (``mirror``: the landmark order)."""
    settings = {**detector.settings, "mirror": mirror}
    twin = LandmarkDetector(**settings)
    twin.load_state_dict(detector.state_dict())
    return twin.eval()


def test_reading_the_mirror_image_too_lowers_the_error(detector):
    from fomm_nb.data import LANDMARK_NAMES
    from fomm_nb.landmarks import mirror_order

    plain = {key: value for key, value in detector.settings.items() if key != "mirror"}
    one_way = LandmarkDetector(**plain)
    one_way.load_state_dict(detector.state_dict())
    conditions = {"clean": (0.0, 0.0), "blur 1.25 px": (1.25, 0.0)}
    single = held_out_errors(one_way.eval(), num_videos=10, conditions=conditions)
    both = held_out_errors(_with_mirror(detector, mirror_order(LANDMARK_NAMES)), num_videos=10, conditions=conditions)
    for name in conditions:
        assert both[name] < 0.95 * single[name], f"{name}: {both[name]:.3f} px with the mirror image, {single[name]:.3f} without"


def test_a_mirrored_frame_reads_as_the_mirror_of_its_reading(detector):
    from fomm_nb.data import LANDMARK_NAMES
    from fomm_nb.landmarks import mirror_order

    order = mirror_order(LANDMARK_NAMES)
    twin = _with_mirror(detector, order)
    frames = make_video(split_seed("test", 5), num_frames=3, size=64).frames.astype(np.float32) / 255
    found, found_flipped = read_landmarks(twin, frames), read_landmarks(twin, frames[:, :, ::-1].copy())
    mirrored = found_flipped[:, order]
    mirrored[..., 0] = 63 - mirrored[..., 0]
    assert np.abs(mirrored - found).max() < 1e-4
