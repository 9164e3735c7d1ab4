"""The procedural faces: deterministic, anti-aliased, with landmarks that follow the pose and match the pixels."""

import math
from dataclasses import replace

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from fomm_nb.data import (
    HAIR_STYLES,
    LANDMARK_NAMES,
    Identity,
    Pose,
    ProceduralFaces,
    landmarks,
    make_video,
    pupils,
    random_trajectory,
    render,
    split_seed,
    video_parameters,
    write_frames_dataset,
)
from fomm_nb.data.drawing import Canvas, circle, ellipse
from fomm_nb.data.video_folder import VideoFolder
from fomm_nb.errors import InputError

IDS = {name: index for index, name in enumerate(LANDMARK_NAMES)}


@pytest.fixture
def identity():
    return Identity.random(np.random.default_rng(4))


def pixel(image, point):
    """The colour of the pixel nearest to ``point`` (x, y)."""
    x, y = np.round(point).astype(int)
    return image[y, x]


# ----------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("size", [64, 128, 256])
def test_render_shape_dtype_range(identity, size):
    image = render(identity, Pose(tx=0.1, angle=0.2, yaw=-0.4, mouth=0.7), size=size)
    assert image.shape == (size, size, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert landmarks(identity, Pose(), size=size).shape == (len(LANDMARK_NAMES), 2)


def test_videos_are_deterministic_from_the_seed():
    first, second = make_video(5, num_frames=3), make_video(5, num_frames=3)
    assert first.frames.shape == (3, 64, 64, 3) and first.landmarks.shape == (3, len(LANDMARK_NAMES), 2)
    assert first.landmarks.dtype == np.float32
    assert np.array_equal(first.frames, second.frames) and np.array_equal(first.landmarks, second.landmarks)
    assert first.identity == second.identity and first.poses == second.poses
    assert not np.array_equal(first.frames, make_video(6, num_frames=3).frames)


def test_bad_sizes_are_refused(identity):
    with pytest.raises(InputError, match="size"):
        render(identity, Pose(), size=8)
    with pytest.raises(InputError, match="size"):
        render(identity, Pose(), size=64.0)
    with pytest.raises(InputError, match="scale"):
        render(identity, Pose(scale=0.0))


def test_a_drawn_disc_covers_each_pixel_by_its_area():
    """Coverage of a drawn circle ~ the exact area fraction of each pixel (16x16 point samples)."""
    size, radius = 32, 0.43
    canvas = Canvas(np.zeros((size, size, 3), np.float32), tx=0.0, ty=0.0, angle=0.0, scale=1.0)
    canvas.fill(lambda x, y: circle(x, y, 0.05, -0.02, radius), (1.0, 1.0, 1.0), (-0.5, -0.5, 0.6, 0.5))
    step = 2 / (size - 1)
    offsets = (np.arange(16) + 0.5) / 16 - 0.5
    centres = np.linspace(-1, 1, size)
    xs = (centres[None, :, None, None] + offsets[None, None, None, :] * step)  # (1, S, 1, 16)
    ys = (centres[:, None, None, None] + offsets[None, None, :, None] * step)  # (S, 1, 16, 1)
    area = ((xs - 0.05) ** 2 + (ys + 0.02) ** 2 < radius**2).mean(axis=(2, 3))
    edge = (area > 0) & (area < 1)
    assert edge.sum() > 30 and len(np.unique(canvas.image)) > 20  # the edge pixels take intermediate values ...
    assert np.abs(canvas.image[..., 0] - area)[edge].max() < 0.1  # ... close to the covered area
    assert np.array_equal(canvas.image[..., 0][~edge], area[~edge])


def test_a_thin_ellipse_stays_within_its_length():
    """Far beyond the ends of a thin ellipse, the distance is large (a closed eye is not an endless line)."""
    x = np.array([0.0, 0.3, 0.5], np.float32)
    distance = ellipse(x, np.zeros(3, np.float32), 0.0, 0.0, 0.1, 0.001)
    assert distance[0] < 0 and distance[1] == pytest.approx(0.2) and distance[2] == pytest.approx(0.4)


def test_frames_are_anti_aliased(identity):
    """A 64-pixel frame ~ a 3x finer frame box-filtered down; a jagged one would be far off."""
    pose = Pose(angle=0.3, yaw=0.2, mouth=0.6)
    coarse = render(identity, pose, size=64)
    fine = render(identity, pose, size=3 * 63 + 1)  # fine pixel 3i sits on coarse pixel i
    blocks = [fine[2 + dy : 185 + dy : 3, 2 + dx : 185 + dx : 3] for dy in range(3) for dx in range(3)]
    filtered = np.mean(blocks, axis=0)  # 3x3 box filter, for coarse pixels 1..61
    nearest = fine[3:186:3, 3:186:3]  # point samples: what jagged drawing gives
    error, jagged_error = np.abs(coarse[1:62, 1:62] - filtered).mean(), np.abs(nearest - filtered).mean()
    assert error < 0.003 and error < jagged_error / 3


# ----------------------------------------------------------------------------- landmarks and pose


def test_landmarks_follow_translation_and_rotation(identity):
    base = landmarks(identity, Pose(), size=65)
    moved = landmarks(identity, Pose(tx=0.5, ty=-0.25), size=65)
    np.testing.assert_allclose(moved - base, np.broadcast_to([16.0, -8.0], base.shape), atol=1e-4)
    angle = 0.3
    turned = landmarks(identity, Pose(angle=angle), size=65)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])  # clockwise on screen
    np.testing.assert_allclose(turned, (base - 32.0) @ rotation.T + 32.0, atol=1e-4)
    grown = landmarks(identity, Pose(scale=1.1), size=65)
    np.testing.assert_allclose(grown, (base - 32.0) * 1.1 + 32.0, atol=1e-4)


def test_the_image_moves_with_the_landmarks(identity):
    """Translate by 16 pixels: the face's pixels move 16 pixels (the background stays)."""
    still, moved = render(identity, Pose(), size=65), render(identity, Pose(tx=0.5), size=65)
    eye = landmarks(identity, Pose(), size=65)[IDS["left_eye"]].round().astype(int)
    patch = lambda image, dx: image[eye[1] - 3 : eye[1] + 4, eye[0] - 3 + dx : eye[0] + 4 + dx]
    assert np.abs(patch(still, 0) - patch(moved, 16)).max() < 1e-5


@pytest.mark.parametrize("seed", range(6))
def test_landmarks_sit_on_what_is_drawn(seed):
    """At 256 pixels: pupils are dark, the nose tip has the nose's colour, just inside the lips is lip colour,
    and across the hairline the hair starts."""
    rng = np.random.default_rng(seed)
    identity = Identity.random(rng)
    pose = replace(random_trajectory(rng, 1)[0], blink=0.0, mouth=0.0)
    image, points = render(identity, pose, size=256), landmarks(identity, pose, size=256)
    for point in pupils(identity, pose, size=256):
        assert pixel(image, point).max() < 0.15
    np.testing.assert_allclose(pixel(image, points[IDS["nose_tip"]]), 0.78 * np.array(identity.skin), atol=0.02)
    down = np.array([-math.sin(pose.angle), math.cos(pose.angle)])  # the face's "down" on screen
    for name, direction in (("upper_lip", 1.5), ("lower_lip", -1.5)):
        np.testing.assert_allclose(pixel(image, points[IDS[name]] + direction * down), identity.lips, atol=0.08)
    np.testing.assert_allclose(pixel(image, points[IDS["hairline"]] - 1.5 * down), identity.hair, atol=0.02)


def test_head_turn_shifts_features_and_narrows_the_outline(identity):
    front, turned = landmarks(identity, Pose()), landmarks(identity, Pose(yaw=0.5))
    width = lambda points: points[IDS["right_face_edge"], 0] - points[IDS["left_face_edge"], 0]
    assert width(turned) < 0.93 * width(front)
    shift = turned[:, 0] - front[:, 0]
    assert shift[IDS["nose_tip"]] > shift[IDS["left_eye"]] > 1.5  # features move toward image-right, the nose most
    left_turned = landmarks(identity, Pose(yaw=-0.5))
    assert left_turned[IDS["nose_tip"], 0] < front[IDS["nose_tip"], 0] - 1.5
    assert not np.allclose(render(identity, Pose()), render(identity, Pose(yaw=0.5)))


def test_mouth_opening_parts_the_lips(identity):
    gap = lambda pose: np.diff(landmarks(identity, pose)[[IDS["upper_lip"], IDS["lower_lip"]], 1])[0]
    assert gap(Pose(mouth=1.0)) > gap(Pose()) + 4
    dark = lambda image: (image.max(axis=-1) < 0.35).sum()
    assert dark(render(identity, Pose(mouth=1.0))) > dark(render(identity, Pose())) + 10


def test_blinking_closes_the_eyes_and_gaze_moves_the_pupils(identity):
    points = landmarks(identity, Pose(), size=128)
    x, y = points[IDS["left_eye"]].round().astype(int)
    white = lambda image: (image[y - 8 : y + 9, x - 12 : x + 13].min(axis=-1) > 0.85).sum()
    assert white(render(identity, Pose(), size=128)) > 15
    assert white(render(identity, Pose(blink=1.0), size=128)) == 0
    looking = Pose(gaze_x=1.0, gaze_y=-1.0)
    moved = pupils(identity, looking, size=128) - pupils(identity, Pose(), size=128)
    assert (moved[:, 0] > 1.5).all() and (moved[:, 1] < -0.5).all()
    assert np.allclose(landmarks(identity, looking, size=128), points)  # the eyes stay
    image = render(identity, looking, size=128)
    assert all(pixel(image, point).max() < 0.2 for point in pupils(identity, looking, size=128))


def test_any_identity_in_any_pose(identity):
    other = Identity.random(np.random.default_rng(9))
    pose, later = Pose(tx=0.1, yaw=0.3, mouth=0.5), Pose(tx=-0.05, ty=0.1, yaw=0.3, mouth=0.5)
    assert np.abs(render(identity, pose) - render(other, pose)).mean() > 0.05
    mine, theirs = landmarks(identity, pose), landmarks(other, pose)
    assert np.linalg.norm(mine - theirs, axis=1).mean() < 4.0  # same pose: the faces line up
    np.testing.assert_allclose(landmarks(identity, later) - mine, landmarks(other, later) - theirs, atol=1e-4)
    video = make_video(2, num_frames=3)
    truth = video.render_as(other)
    assert truth.shape == video.frames.shape and np.array_equal(truth[1], render(other, video.poses[1]))


def test_identities_vary():
    identities = [Identity.random(np.random.default_rng(seed)) for seed in range(60)]
    assert {identity.hair_style for identity in identities} == set(range(len(HAIR_STYLES)))
    assert len({identity.skin for identity in identities}) == 60
    for identity in identities:  # hair and background stand out from the skin
        assert np.abs(np.subtract(identity.hair, identity.skin)).mean() >= 0.2
        assert min(np.abs(np.subtract(colour, identity.skin)).mean() for colour in identity.background) >= 0.2


# ----------------------------------------------------------------------------- trajectories


def test_trajectories_are_smooth_and_in_range():
    poses = [pose for seed in range(20) for pose in random_trajectory(np.random.default_rng(seed), 200)]
    values = {name: np.array([getattr(pose, name) for pose in poses]) for name in Pose.__dataclass_fields__}
    assert np.abs(values["tx"]).max() <= 0.15 and np.abs(values["ty"]).max() <= 0.12
    assert np.abs(values["angle"]).max() <= math.radians(20) and np.abs(values["yaw"]).max() <= 0.5
    assert 0.85 <= values["scale"].min() and values["scale"].max() <= 1.15
    assert values["mouth"].min() == 0.0 and values["mouth"].max() == 1.0 and 0.15 < (values["mouth"] == 0).mean() < 0.5
    assert set(np.unique(values["blink"])) == {0.0, 0.5, 1.0} and 0.02 < (values["blink"] == 1.0).mean() < 0.15
    assert np.abs(values["tx"]).max() > 0.08 and np.abs(values["yaw"]).max() > 0.3  # they do move
    steps = np.abs(np.diff(values["tx"].reshape(20, 200), axis=1))
    assert steps.max() < 0.05


def test_longer_videos_start_like_shorter_ones():
    short_identity, short = video_parameters(11, num_frames=16)
    long_identity, long = video_parameters(11, num_frames=64)
    assert short_identity == long_identity and long[:16] == short


# ----------------------------------------------------------------------------- data sets


def test_dataset_items():
    torch.manual_seed(0)
    dataset = ProceduralFaces("train", num_videos=5, frames_per_video=16, size=32)
    item = dataset[3]
    assert set(item) == {"source", "driving", "source_landmarks", "driving_landmarks"}
    assert item["source"].shape == item["driving"].shape == (3, 32, 32) and item["source"].dtype == torch.float32
    assert item["driving_landmarks"].shape == (len(LANDMARK_NAMES), 2)
    assert not torch.equal(item["source_landmarks"], item["driving_landmarks"])  # two different frames
    video = dataset.video(3)
    frame = next(t for t in range(16) if np.allclose(video.landmarks[t], item["source_landmarks"].numpy()))
    assert np.array_equal(video.frames[frame], item["source"].permute(1, 2, 0).numpy())
    torch.manual_seed(0)
    assert torch.equal(dataset[3]["source"], item["source"])  # repeatable under torch's seed
    assert len(dataset) == 5 and len(list(dataset)) == 5
    with pytest.raises(IndexError):
        dataset[5]


def test_dataset_splits_and_seeds_are_disjoint():
    train = {split_seed("train", index, seed) for index in (0, 999_999) for seed in (0, 1)}
    test = {split_seed("test", index, seed) for index in (0, 999_999) for seed in (0, 1)}
    assert len(train | test) == 8
    first_identity = lambda **options: ProceduralFaces(num_videos=2, **options).video(0, num_frames=1).identity
    assert first_identity(split="test") != first_identity(split="train")
    assert first_identity(seed=1) != first_identity(seed=0)
    with pytest.raises(InputError, match="split must be"):
        ProceduralFaces("valid")
    with pytest.raises(InputError, match="frames_per_video"):
        ProceduralFaces(frames_per_video=1)


def test_dataloader_workers_draw_different_pairs():
    dataset = Subset(ProceduralFaces("train", num_videos=1, frames_per_video=64, size=16), [0] * 8)
    loader = DataLoader(dataset, batch_size=4, num_workers=2)
    first, second = list(loader)  # one batch from each worker
    assert not torch.equal(first["source_landmarks"], second["source_landmarks"])


# ----------------------------------------------------------------------------- on disk


def test_write_frames_dataset_png(tmp_path):
    root = write_frames_dataset(tmp_path / "faces", num_train=2, num_test=1, num_frames=3, size=32)
    names = sorted(path.name for path in (root / "train").iterdir())
    assert names == ["face-0000000", "face-0000000.landmarks.npy", "face-0000001", "face-0000001.landmarks.npy"]
    folder = root / "test" / "face-1000000"
    assert sorted(path.name for path in folder.iterdir()) == ["0000000.png", "0000001.png", "0000002.png"]
    video = make_video(split_seed("test", 0), num_frames=3, size=32)
    frames = np.stack([iio.imread(folder / f"{t:07d}.png") for t in range(3)])
    assert frames.shape == (3, 32, 32, 3) and np.abs(frames / 255.0 - video.frames).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(np.load(root / "test" / "face-1000000.landmarks.npy"), video.landmarks)
    assert len(VideoFolder(root, "train", size=32, augment=False)) == 2  # the landmark files are not taken for videos


def test_write_frames_dataset_mp4(tmp_path):
    root = write_frames_dataset(tmp_path, num_train=1, num_test=1, num_frames=4, size=64, format="mp4")
    frames = iio.imread(root / "train" / "face-0000000.mp4")
    assert frames.shape == (4, 64, 64, 3)
    assert np.abs(frames / 255.0 - make_video(0, num_frames=4).frames).mean() < 0.03
    assert np.load(root / "train" / "face-0000000.landmarks.npy").shape == (4, len(LANDMARK_NAMES), 2)
    with pytest.raises(InputError, match="format"):
        write_frames_dataset(tmp_path, format="gif")
