"""Face crops on real data: the astronaut photo, the carphone clip, and images without a face."""

import sys
import types

import matplotlib
import numpy as np
import pytest
import skimage.data

from fomm_nb import FommError, InputError
from fomm_nb import face
from fomm_nb.face import Box, FaceNotFoundError
from conftest import MEDIA

matplotlib.use("Agg")

# The astronaut's face, brows to chin and cheek to cheek, read off the picture by eye.
ASTRONAUT_FACE = Box(182, 88, 262, 166)


def contains(outer, inner, tolerance=0):
    return (
        outer[0] <= inner[0] + tolerance
        and outer[1] <= inner[1] + tolerance
        and outer[2] >= inner[2] - tolerance
        and outer[3] >= inner[3] - tolerance
    )


def iou(a, b):
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut().astype(np.float32) / 255


@pytest.fixture(scope="module")
def carphone():
    import imageio.v3 as iio

    return [frame.astype(np.float32) / 255 for frame in iio.imiter(MEDIA / "carphone_pristine.mp4")]


def test_the_astronauts_face_is_found(astronaut):
    found = face.detect_face(astronaut)
    assert found is not None
    assert iou(found, ASTRONAUT_FACE) > 0.6
    assert found.width == found.height


def test_the_crop_holds_the_face_with_a_margin(astronaut):
    box = face.face_crop_box(astronaut)
    found = face.detect_face(astronaut)
    assert box.width == box.height == round(face.MARGIN * found.width)
    assert contains(box, ASTRONAUT_FACE)
    # more room above the face (forehead, hair) than below it (neck)
    assert ASTRONAUT_FACE.top - box.top > box.bottom - ASTRONAUT_FACE.bottom
    assert 0 <= box.left and box.right <= 512 and 0 <= box.top and box.bottom <= 512


def test_crop_to_face_gives_the_models_size(astronaut):
    crop = face.crop_to_face(astronaut, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.float32
    assert 0 <= crop.min() and crop.max() <= 1
    box = face.face_crop_box(astronaut)
    expected = face.crop(astronaut, box, 128)
    assert np.array_equal(crop, expected)
    # the crop is the boxed region: its mean colour matches the region's
    region = astronaut[box.top : box.bottom, box.left : box.right]
    assert np.allclose(crop.mean((0, 1)), region.mean((0, 1)), atol=0.01)


def test_a_box_larger_than_the_frame_is_slid_and_shrunk_inside():
    assert face.square_crop_box((10, 50), 40, (100, 200, 3)) == Box(0, 30, 40, 70)
    assert face.square_crop_box((190, 95), 40, (100, 200, 3)) == Box(160, 60, 200, 100)
    assert face.square_crop_box((100, 50), 500, (100, 200, 3)) == Box(50, 0, 150, 100)


def test_a_tilted_face_is_found_by_turning_the_image(astronaut):
    import cv2

    rotation = cv2.getRotationMatrix2D((256, 256), 25, 1.0)
    tilted = cv2.warpAffine(astronaut, rotation, (512, 512), borderMode=cv2.BORDER_REFLECT)
    found = face.detect_face(tilted)
    assert found is not None
    expected_centre = rotation @ np.array([*ASTRONAUT_FACE.centre, 1.0])
    assert np.hypot(*(np.array(found.centre) - expected_centre)) < 15


@pytest.mark.parametrize("name", ["coffee", "flat"])
def test_no_face_raises_or_falls_back_to_the_centre(name):
    image = np.full((300, 400, 3), 0.5, np.float32) if name == "flat" else skimage.data.coffee() / np.float32(255)
    assert face.detect_face(image) is None
    with pytest.raises(FaceNotFoundError, match=r"^cup\.png: no face found.*if_missing='centre'"):
        face.face_crop_box(image, name="cup.png")
    height, width = image.shape[:2]
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    assert face.face_crop_box(image, if_missing="centre") == Box(left, top, left + side, top + side)
    assert face.crop_to_face(image, 64, if_missing="centre").shape == (64, 64, 3)


def test_face_not_found_is_a_user_error():
    assert issubclass(FaceNotFoundError, FommError) and issubclass(FaceNotFoundError, InputError)


def test_bad_arguments_are_refused(astronaut):
    with pytest.raises(InputError, match="if_missing"):
        face.face_crop_box(astronaut, if_missing="pad")
    with pytest.raises(InputError, match="detector"):
        face.detect_face(astronaut, detector="dlib")
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        face.detect_face(astronaut[..., 0])
    with pytest.raises(InputError, match="every"):
        face.video_crop_boxes([astronaut], every=0)
    with pytest.raises(InputError, match="empty"):
        face.video_crop_boxes([])


def test_the_fixed_video_box_is_one_box_that_holds_every_face(carphone):
    boxes = face.video_crop_boxes(carphone)
    assert boxes.shape == (120, 4) and (boxes == boxes[0]).all()
    box = Box(*boxes[0])
    assert box.width == box.height and box.right <= 176 and box.bottom <= 144
    faces = [face.detect_face(frame) for frame in carphone[::3]]
    assert sum(f is not None for f in faces) >= 35
    # faces found on tilted frames are axis-aligned boxes of a turned square: allow a few pixels
    assert all(contains(box, f, tolerance=4) for f in faces if f is not None)


def test_the_moving_video_box_follows_the_face_without_jitter(carphone):
    boxes = face.video_crop_boxes(carphone, moving=True)
    assert boxes.shape == (120, 4)
    assert (boxes[:, 2] - boxes[:, 0] == boxes[:, 3] - boxes[:, 1]).all()
    assert np.abs(np.diff(boxes, axis=0)).max() <= 2
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.ptp(centres[:, 0]) > 10, "the face moves left over the clip; the box must follow"
    for t in range(0, 120, 10):
        found = face.detect_face(carphone[t])
        if found is not None:
            assert contains(Box(*boxes[t]), found, tolerance=6), t
    cropped = list(face.crop_frames(carphone, boxes, 64))
    assert len(cropped) == 120 and cropped[0].shape == (64, 64, 3)


def test_gaps_without_a_face_are_filled_from_the_neighbours(carphone):
    frames = list(carphone[:40])
    for t in (10, 15, 20):
        frames[t] = np.full_like(frames[t], 0.5)
    tracked = face.track_face_boxes(frames, every=5)
    assert tracked.shape == (40, 4)
    before, after = tracked[5], tracked[25]
    assert np.allclose(tracked[15], (before + after) / 2, atol=1e-6)


def test_a_video_without_faces_raises_or_uses_the_centre():
    frames = [np.full((90, 160, 3), 0.5, np.float32)] * 6
    with pytest.raises(FaceNotFoundError, match="^clip.mp4: no face found"):
        face.video_crop_boxes(frames, name="clip.mp4")
    with pytest.raises(FaceNotFoundError):
        face.track_face_boxes(frames)
    boxes = face.video_crop_boxes(frames, if_missing="centre")
    assert (boxes == [35, 0, 125, 90]).all() and boxes.shape == (6, 4)


def test_plot_crop_draws_the_crop_and_the_face(astronaut):
    from matplotlib.patches import Rectangle

    box, found = face.face_crop_box(astronaut), face.detect_face(astronaut)
    ax = face.plot_crop(astronaut, box, face=found)
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 2
    assert rectangles[0].get_width() == box.width and rectangles[1].get_width() == found.width
    assert ax.images[0].get_array().shape == (512, 512, 3)
    matplotlib.pyplot.close(ax.figure)


@pytest.fixture
def fake_face_alignment(monkeypatch, tmp_path):
    """A stand-in face_alignment package with 'models on disk', returning two fixed faces."""
    small = np.stack([np.linspace(10, 20, 68), np.linspace(10, 20, 68)], axis=1)
    large = np.stack([np.linspace(100, 180, 68), np.linspace(50, 150, 68)], axis=1)

    class FaceAlignment:
        def __init__(self, kind, flip_input, device):
            self.kind = kind

        def get_landmarks(self, image):
            assert image.dtype == np.uint8
            return [small, large] if image.mean() > 10 else None

    module = types.SimpleNamespace(FaceAlignment=FaceAlignment, LandmarksType=types.SimpleNamespace(TWO_D="2d"))
    monkeypatch.setitem(sys.modules, "face_alignment", module)
    (tmp_path / "checkpoints").mkdir()
    for name in ("2DFAN4-cd938726ad.zip", "s3fd-619a316812.pth"):
        (tmp_path / "checkpoints" / name).touch()
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    face._landmark_model.cache_clear()
    yield large
    face._landmark_model.cache_clear()


def test_landmarks_come_from_face_alignment_when_present(fake_face_alignment, astronaut):
    assert np.allclose(face.face_landmarks(astronaut), fake_face_alignment)
    assert face.face_landmarks(np.zeros((64, 64, 3), np.float32)) is None
    # the landmark box: centre (140, 100), side = the larger extent, 100
    assert face.detect_face(astronaut, detector="landmarks") == Box(90, 50, 190, 150)


def test_landmarks_without_face_alignment_say_what_is_missing(monkeypatch, astronaut):
    monkeypatch.setitem(sys.modules, "face_alignment", None)  # makes the import fail
    face._landmark_model.cache_clear()
    try:
        with pytest.raises(InputError, match="face_alignment.*never downloads"):
            face.face_landmarks(astronaut)
    finally:
        face._landmark_model.cache_clear()
