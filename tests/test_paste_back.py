"""Paste-back: animated crops put back into the whole photo, measured against ground truth.

The ground truth comes from procedural scenes: a cartoon face rendered at an
offset inside a larger canvas (the "photo"), moving as another video's face
moves, so the whole frame that the animation should produce is known. Then
``animate_files`` and ``fomm-nb animate --paste-back`` on a real photo
(scikit-image's astronaut) and a real talking head (carphone).
"""

from dataclasses import replace

import numpy as np
import pytest

from fomm_nb.animate import AnimationEngine
from fomm_nb.cli import main
from fomm_nb.data.procedural import make_video, render
from fomm_nb.errors import InputError
from fomm_nb.face import Box, face_crop_box
from fomm_nb.hub import get_model
from fomm_nb.media import read_image, read_video, write_image, write_video
from fomm_nb.paste_back import FEATHER, MAX_SIDE, PasteBack, output_size, square_box
from fomm_nb.pipeline import animate_files

CANVAS = 192  # the procedural photo's side
BOX = Box(70, 40, 134, 104)  # where the 64-pixel face sits in it: an offset on both axes, seams on four sides
SIZE = 64  # the bundled model's frames


def scene(identity, poses):
    """``(T, CANVAS, CANVAS, 3)``: ``identity`` in ``poses``, its 64-pixel frame drawn at :data:`BOX` of a larger canvas.

    A pose maps face units to [-1, 1] of the frame; shrinking it by ``s`` and
    moving it to the box's centre draws the same face where the box is, with
    the canvas's background all around it.
    """
    s = (SIZE - 1) / (CANVAS - 1)
    cx = -1 + 2 * (BOX.left + (SIZE - 1) / 2) / (CANVAS - 1)
    cy = -1 + 2 * (BOX.top + (SIZE - 1) / 2) / (CANVAS - 1)
    return np.stack([render(identity, replace(pose, tx=s * pose.tx + cx, ty=s * pose.ty + cy, scale=s * pose.scale),
                            CANVAS) for pose in poses])


def seam_steps(frame, depth, box=BOX):
    """``(depth + 1,)``: the mean absolute step between neighbouring pixels across each side of ``box``, at the
    border (index 0: the last pixel outside to the first inside) and ``1 .. depth`` pixels further in."""
    left, top, right, bottom = box
    steps = []
    for k in range(-1, depth):
        across = [frame[top + k + 1, left:right] - frame[top + k, left:right],
                  frame[bottom - 2 - k, left:right] - frame[bottom - 1 - k, left:right],
                  frame[top:bottom, left + k + 1] - frame[top:bottom, left + k],
                  frame[top:bottom, right - 2 - k] - frame[top:bottom, right - 1 - k]]
        steps.append(np.abs(np.concatenate(across)).mean())
    return np.array(steps)


def mean_step(frame):
    """The image's own edges: the mean absolute difference between neighbouring pixels, across and down."""
    return float(np.concatenate([np.abs(np.diff(frame, axis=0)).ravel(), np.abs(np.diff(frame, axis=1)).ravel()]).mean())


@pytest.fixture(scope="module")
def model():
    return get_model("demo", device="cpu")


@pytest.fixture(scope="module")
def procedural(model):
    """``(photo, truth, predictions)``: the scene's first frame, its 16 true frames, and the model's 64-pixel crops."""
    driving = make_video(7, num_frames=16)
    actor = make_video(3, num_frames=1).identity
    truth = scene(actor, driving.poses)  # face 3 in face 7's poses, the whole frame
    photo = truth[0]
    engine = AnimationEngine(model)
    engine.set_source(photo[BOX.top:BOX.bottom, BOX.left:BOX.right])
    predictions = np.stack(list(engine.stream(iter(driving.frames))))  # (T, 64, 64, 3)
    return photo, truth, predictions


def test_pasted_frames_against_the_whole_frame_ground_truth(procedural):
    photo, truth, predictions = procedural
    pasted = np.stack([PasteBack(photo, BOX)(frame) for frame in predictions])
    inside = (slice(None), slice(BOX.top, BOX.bottom), slice(BOX.left, BOX.right))
    outside = np.ones(photo.shape[:2], bool)
    outside[inside[1:]] = False
    assert pasted.shape == truth.shape
    # Outside the box: the photo's pixels, exactly; where the true scene did not change there, no error at all.
    assert np.array_equal(pasted[:, outside], np.broadcast_to(photo[outside], pasted[:, outside].shape))
    still = outside & (truth == photo).all(axis=(0, 3))
    assert still.mean() > 0.8  # most of the canvas outside the box is still
    assert np.abs(pasted - truth)[:, still].max() == 0
    # Inside: the crop's own error (the feathered band, half the photo, can only lower it).
    crop_error = np.abs(predictions - truth[inside]).mean()
    pasted_error = np.abs(pasted[inside] - truth[inside]).mean()
    assert 0.7 * crop_error <= pasted_error <= crop_error * 1.001, (pasted_error, crop_error)
    hard = np.stack([PasteBack(photo, BOX, feather=0)(frame) for frame in predictions])
    assert np.abs(hard[inside] - truth[inside]).mean() == pytest.approx(crop_error, rel=1e-5)


def test_the_seam_is_no_edge_stronger_than_the_images_own(procedural):
    """Across the box's sides (the border, then the feathered band), the pasted frames' steps exceed the true
    frames' by less than the image's own mean step; a hard paste (planted: feather=0) does not."""
    photo, truth, predictions = procedural
    depth = round(FEATHER * SIZE)
    own = np.mean([mean_step(frame) for frame in truth])
    true_steps = np.mean([seam_steps(frame, depth) for frame in truth], axis=0)

    def excess(feather):
        pasted = np.mean([seam_steps(PasteBack(photo, BOX, feather=feather)(frame), depth) for frame in predictions], 0)
        return pasted - true_steps

    feathered, hard = excess(FEATHER), excess(0)
    print(f"\nsteps over the true frame's, border then band: feathered {np.round(feathered, 4)}, hard {np.round(hard, 4)}; "
          f"the image's mean step {own:.4f}")
    assert feathered[0] < 1e-3, "the box's border is an edge the true frame does not have"
    assert feathered.mean() < own, "the feathered band adds steps stronger than the image's own"
    assert hard.mean() > own and hard[0] > 5 * own  # the measure sees a hard paste


def test_output_size_is_even_and_capped():
    assert output_size(481, 641) == (480, 640)
    assert output_size(4000, 3000) == (MAX_SIDE, 1440)
    photo = np.random.default_rng(0).random((3000, 2000, 3)).astype(np.float32)
    paste = PasteBack(photo, Box(900, 1200, 1500, 1800))
    frame = paste(np.zeros((64, 64, 3), np.float32))
    assert frame.shape == (MAX_SIDE, 1280, 3) and paste.size == (MAX_SIDE, 1280)
    assert frame[:, :400].std() > 0.05 and frame[960, 704].max() == 0  # the photo, shrunk; the box's centre pasted


def test_pad_framing_pastes_only_the_photos_part_and_bad_boxes_are_refused():
    photo = np.full((100, 200, 3), 0.5, np.float32)
    box = square_box("pad", 100, 200, Box(0, 0, 200, 100))
    square = np.zeros((64, 64, 3), np.float32)
    square[15:49] = 1.0  # the photo's part of a padded square (rows 16 to 48 of 64), and a row more each side
    frame = PasteBack(photo, box)(square)
    assert frame.shape == (100, 200, 3) and frame.min() > 0.95  # no padding pasted in, no seam on the photo's edges
    with pytest.raises(InputError, match="outside"):
        PasteBack(photo, Box(300, 0, 364, 64))
    with pytest.raises(InputError, match="feather"):
        PasteBack(photo, Box(0, 0, 64, 64), feather=2)


def coding_error(photo, folder):
    """The error H.264 leaves on the still ``photo`` itself: what 'within video-coding error' means here."""
    write_video(folder / "still.mp4", np.stack([photo] * 3), fps=10)
    return float(np.abs(read_video(folder / "still.mp4")[0][1] - photo).mean())


def test_animate_files_pastes_a_plain_crop_back(model, tmp_path):
    photo = make_video(5, num_frames=1, size=160).frames[0][40:136]  # 96 x 160: the centre crop is columns 32 to 128
    driving = make_video(7, num_frames=6).frames
    write_image(tmp_path / "wide.png", photo)
    write_video(tmp_path / "talk.mp4", driving, fps=10)
    result = animate_files(model, tmp_path / "wide.png", tmp_path / "talk.mp4", tmp_path / "out.mp4",
                           crop="crop", paste_back=True, side_by_side_path=tmp_path / "sbs.mp4")
    frames = read_video(result.video)[0]
    assert frames.shape == (6, 96, 160, 3)
    error = np.abs(frames[:, :, list(range(0, 32)) + list(range(128, 160))] - photo[:, list(range(0, 32)) + list(range(128, 160))])
    assert error.mean() <= 1.5 * coding_error(photo, tmp_path) + 0.002
    assert read_video(tmp_path / "sbs.mp4")[0].shape[1] == 96  # photo | driving | result at the result's height


def test_cli_paste_back_on_a_real_photo(real_media, tmp_path, capsys):
    photo_path, talk = real_media
    out = tmp_path / "out.mp4"
    status = main(["animate", "--source", str(photo_path), "--driving", str(talk), "--model", "demo", "--crop", "face",
                   "--paste-back", "--out", str(out), "--device", "cpu"])
    assert status == 0, capsys.readouterr().err
    photo = read_image(photo_path)
    frames = read_video(out)[0]
    assert frames.shape[1:3] == (512, 512) == photo.shape[:2]  # the photo's size (already even)
    box = face_crop_box(photo)
    outside = np.ones(photo.shape[:2], bool)
    outside[box.top:box.bottom, box.left:box.right] = False
    error = float(np.abs(frames[:, outside] - photo[outside]).mean())
    reference = coding_error(photo, tmp_path)
    print(f"\nastronaut, outside the face box: mean error {error:.4f}; the still photo through H.264: {reference:.4f}")
    assert error <= 1.5 * reference + 0.002
    inside = np.abs(frames[:, box.top:box.bottom, box.left:box.right] - photo[box.top:box.bottom, box.left:box.right])
    assert inside.mean() > 2 * error  # the face did move


def test_cli_paste_back_refuses_a_motion_track(real_media, tmp_path, capsys):
    photo_path, talk = real_media
    status = main(["animate", "--source", str(photo_path), "--driving", str(talk), "--smooth", "one-euro",
                   "--paste-back", "--out", str(tmp_path / "out.mp4")])
    assert status == 2 and "--paste-back works with --driving alone" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
