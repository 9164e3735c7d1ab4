"""Media in and out with real files and the real ffmpeg: round trips, bad input, atomic writes, audio.

Fixtures (tests/fixtures/media, see its README): the carphone clip (a person
talking, 120 frames 176x144 at 30000/1001 fps), a 2 s clip with a 440 Hz tone,
an mp4 whose video track has no frames, an m4a with sound only.
"""

import re
import time
import tracemalloc
import types
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fomm_nb import InputError, MediaError
from fomm_nb import media
from fomm_nb.media.ffmpeg import run_ffmpeg
from fomm_nb.media.files import replacing
from fomm_nb.media import (
    VideoWriter,
    crop_box,
    fit_frame,
    has_audio,
    mux_audio,
    open_video,
    read_image,
    read_video,
    side_by_side,
    to_numpy,
    to_tensor,
    write_image,
    write_video,
)

FIXTURES = Path(__file__).parent / "fixtures" / "media"
CARPHONE = FIXTURES / "carphone_pristine.mp4"
TONE = FIXTURES / "tone.mp4"


def gradient_frames(count=6, height=48, width=64):
    """Smooth frames that change over time: ``(count, height, width, 3)`` float32."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    return np.stack([np.stack([x, y, np.full_like(x, t / count)], -1) for t in range(count)]).astype(np.float32)


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


def assert_one_line_naming(error, path):
    message = str(error.value)
    assert Path(path).name in message and "\n" not in message, message


# ---------------------------------------------------------------- reading videos


def test_the_carphone_clip_streams_with_its_metadata():
    with open_video(CARPHONE) as reader:
        assert reader.size == (144, 176) and reader.num_frames == 120
        assert Fraction(reader.fps).limit_denominator(2000) == Fraction(30000, 1001)
        count = 0
        for frame in reader:
            count += 1
        assert frame.shape == (144, 176, 3) and frame.dtype == np.float32
        assert 0 <= frame.min() and frame.max() <= 1 and frame.std() > 0.1  # a real picture
    assert count == 120
    frames, fps = read_video(CARPHONE, max_frames=10)
    assert frames.shape == (10, 144, 176, 3) and fps == reader.fps


def test_frames_stream_without_being_kept():
    with open_video(CARPHONE) as reader:
        frames = iter(reader)
        assert isinstance(frames, types.GeneratorType)
        tracemalloc.start()
        try:
            total = sum(float(frame[0, 0, 0]) for frame in frames)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    one_frame = 144 * 176 * 3 * 4
    assert total > 0 and peak < 6 * one_frame  # all 120 frames would be 120 * one_frame


def test_close_stops_a_running_read():
    reader = open_video(CARPHONE)
    frames = iter(reader)
    next(frames)
    reader.close()
    assert next(frames, None) is None  # the generator (and its ffmpeg) is finished
    with pytest.raises(MediaError, match="closed"):
        iter(reader)


def test_a_rotated_phone_video_is_read_upright(tmp_path):
    rotated = tmp_path / "portrait.mp4"
    code, log = run_ffmpeg(["-display_rotation", "90", "-i", CARPHONE, "-c", "copy", rotated])
    assert code == 0, log
    with open_video(rotated) as reader:
        assert reader.size == (176, 144)
        assert next(iter(reader)).shape == (176, 144, 3)


def test_a_folder_of_frames_is_read_in_natural_order(tmp_path):
    frames = gradient_frames(11, 16, 24)
    for index, frame in enumerate(frames):
        write_image(tmp_path / f"frame{index}.png", frame)  # frame10 must come after frame9
    (tmp_path / "notes.txt").write_text("not a frame")
    with open_video(tmp_path, default_fps=12) as reader:
        assert (reader.fps, reader.size, reader.num_frames) == (12, (16, 24), 11)
    again, fps = read_video(tmp_path)
    assert fps == media.DEFAULT_FPS
    assert np.abs(again - frames).max() <= 0.5 / 255 + 1e-6


def test_a_folder_frame_of_another_size_is_named(tmp_path):
    write_image(tmp_path / "0001.png", np.zeros((16, 16, 3)))
    write_image(tmp_path / "0002.png", np.zeros((16, 20, 3)))
    with pytest.raises(MediaError, match="0002.png: the frame is 20x16, the first is 16x16"):
        read_video(tmp_path)


def test_an_image_is_a_one_frame_video(tmp_path):
    write_image(tmp_path / "face.png", gradient_frames(1)[0])
    frames, fps = read_video(tmp_path / "face.png")
    assert frames.shape == (1, 48, 64, 3) and fps == media.DEFAULT_FPS


# ---------------------------------------------------------------- writing videos


@pytest.mark.parametrize("fps", [25, 12.5, 30000 / 1001, 29.97])
def test_mp4_round_trip_keeps_count_fps_and_content(tmp_path, fps):
    frames = gradient_frames(6)
    path = write_video(tmp_path / "clip.mp4", frames, fps=fps)
    with open_video(path) as reader:
        assert reader.num_frames == 6 and reader.size == (48, 64)
        # ffmpeg prints rates to 1/100; 29.97 is read as NTSC's 30000/1001 (1e-6 apart)
        assert reader.fps == pytest.approx(fps, rel=2e-6)
        if fps != 29.97:
            assert reader.fps == fps
    again, _ = read_video(path)
    assert again.shape == frames.shape
    assert np.abs(again - frames).mean() < 0.01
    assert files_in(tmp_path) == ["clip.mp4"]


def test_odd_sizes_grow_to_even_by_repeating_the_edge(tmp_path):
    frames = gradient_frames(3, 33, 47)
    again, _ = read_video(write_video(tmp_path / "odd.mp4", frames, fps=10))
    assert again.shape == (3, 34, 48, 3)
    assert np.abs(again[:, :33, :47] - frames).mean() < 0.01
    assert np.abs(again[:, 33, :47] - frames[:, 32]).mean() < 0.02
    assert np.abs(again[:, :33, 47] - frames[:, :, 46]).mean() < 0.02


def test_gif_round_trip_loops_forever_and_keeps_its_rate(tmp_path):
    frames = gradient_frames(6, 24, 32)
    path = write_video(tmp_path / "clip.gif", frames, fps=10)
    with Image.open(path) as gif:
        assert gif.info["loop"] == 0 and gif.n_frames == 6
    again, fps = read_video(path)
    assert again.shape == frames.shape and fps == 10
    assert np.abs(again - frames).mean() < 0.02
    # 30 fps is 3.33 hundredths of a second: the delays alternate, the mean rate stays 30
    assert read_video(write_video(tmp_path / "fast.gif", gradient_frames(6, 8, 8), fps=30))[1] == pytest.approx(30)


def test_webm_round_trip(tmp_path):
    frames = gradient_frames(4, 32, 32)
    again, fps = read_video(write_video(tmp_path / "clip.webm", frames, fps=15))
    assert again.shape == frames.shape and fps == 15
    assert np.abs(again - frames).mean() < 0.02


def test_interrupted_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.mp4"
    target.write_bytes(b"the user's older result")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, fps=10) as writer:
            for frame in gradient_frames(3):
                writer.append(frame)
            deadline = time.monotonic() + 30
            while len(files_in(tmp_path)) < 2:  # interrupted once ffmpeg has its partial file open, not before
                assert time.monotonic() < deadline, "ffmpeg made no partial file in 30 s"
                time.sleep(0.01)
            raise KeyboardInterrupt
    assert target.read_bytes() == b"the user's older result"
    assert files_in(tmp_path) == ["result.mp4"]
    write_video(target, gradient_frames(3), fps=10)  # a clean close replaces it
    assert read_video(target)[0].shape == (3, 48, 64, 3) and files_in(tmp_path) == ["result.mp4"]


def test_an_interrupted_atomic_write_keeps_the_old_file_byte_for_byte(tmp_path):
    """The write under images and muxed videos: a partial file never reaches the target, and does not stay."""
    target = tmp_path / "face.png"
    target.write_bytes(b"the user's photo")
    with pytest.raises(KeyboardInterrupt):
        with replacing(target) as partial:
            partial.write_bytes(b"half a picture")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"the user's photo" and files_in(tmp_path) == ["face.png"]


def test_writer_errors(tmp_path):
    with pytest.raises(MediaError, match=r"clip.avi: cannot write '.avi' videos; use .mp4, .webm, .gif"):
        VideoWriter(tmp_path / "clip.avi")
    with pytest.raises(MediaError, match="the folder .*missing does not exist"):
        VideoWriter(tmp_path / "missing" / "clip.mp4")
    with pytest.raises(MediaError, match="empty.mp4: no frames to write"):
        write_video(tmp_path / "empty.mp4", [], fps=10)
    with pytest.raises(InputError, match="frame 1 is 32x32, the video 64x48"):
        write_video(tmp_path / "mixed.mp4", [np.zeros((48, 64, 3)), np.zeros((32, 32, 3))], fps=10)
    assert files_in(tmp_path) == []


# ---------------------------------------------------------------- images


def test_images_of_every_kind_become_rgb_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[:4, :, 3] = 255, 255  # red; the lower half transparent
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    image = read_image(tmp_path / "rgba.png")
    assert image.shape == (8, 8, 3) and image.dtype == np.float32
    assert np.allclose(image[0, 0], [1, 0, 0]) and np.allclose(image[7, 7], [1, 1, 1])

    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(tmp_path / "grey.jpg")
    assert np.allclose(read_image(tmp_path / "grey.jpg"), 128 / 255, atol=2 / 255)

    palette = Image.fromarray(rgba[..., :3]).convert("P")
    palette.save(tmp_path / "palette.png", transparency=0)
    assert read_image(tmp_path / "palette.png").shape == (8, 8, 3)

    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(tmp_path / "deep.png")  # 16-bit grey
    assert np.allclose(read_image(tmp_path / "deep.png"), 1)

    for suffix in ("webp", "bmp"):
        Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(tmp_path / f"pic.{suffix}", lossless=True)
        assert np.allclose(read_image(tmp_path / f"pic.{suffix}"), 200 / 255, atol=1e-6)


def test_a_phone_photo_is_turned_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: turn 90 degrees clockwise to view
    Image.new("RGB", (40, 20)).save(tmp_path / "phone.jpg", exif=exif)
    assert read_image(tmp_path / "phone.jpg").shape == (40, 20, 3)


def test_write_image_round_trip_is_exact_for_png(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3)).astype(np.float32) / 255
    write_image(tmp_path / "frame.png", image)
    assert np.array_equal(read_image(tmp_path / "frame.png"), image)
    with pytest.raises(MediaError, match="frame.xyz: unknown image type"):
        write_image(tmp_path / "frame.xyz", image)


# ---------------------------------------------------------------- bad input


BAD_INPUTS = {
    "missing.mp4": (None, "no such file"),
    "empty.mp4": (b"", "the file is empty"),
    "noise.mp4": (bytes(range(256)) * 20, "not a video ffmpeg can read"),
    "noise.png": (bytes(range(256)) * 20, "not an image"),
    "noise.gif": (bytes(range(256)) * 20, "not a GIF"),
    "noise.mov": (b"", "the file is empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_videos_give_one_line_errors(tmp_path, name):
    content, message = BAD_INPUTS[name]
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as caught:
        open_video(path)
    assert_one_line_naming(caught, path)


@pytest.mark.parametrize(
    "path, message",
    [
        (FIXTURES / "no_frames.mp4", "the video has no frames"),
        (FIXTURES / "sound_only.m4a", "the file has no video stream"),
    ],
)
def test_videos_without_pictures(path, message):
    with pytest.raises(MediaError, match=message) as caught:
        open_video(path)
    assert_one_line_naming(caught, path)


def test_an_empty_folder_has_no_frames(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(MediaError, match="frames: the folder has no frames") as caught:
        open_video(tmp_path / "frames")
    assert_one_line_naming(caught, tmp_path / "frames")


@pytest.mark.parametrize("name, content, message", [
    ("missing.png", None, "no such file"),
    ("empty.png", b"", "the file is empty"),
    ("noise.png", bytes(range(256)) * 20, "not an image"),
    ("folder", "dir", "is a folder, not an image"),
    ("truncated.png", "truncated", "damaged"),
])
def test_bad_images_give_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content == "truncated":
        Image.fromarray(np.zeros((64, 64, 3), np.uint8) + np.arange(64, dtype=np.uint8)[:, None, None]).save(path)
        path.write_bytes(path.read_bytes()[:-80])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as caught:
        read_image(path)
    assert_one_line_naming(caught, path)


# ---------------------------------------------------------------- audio


def test_audio_is_copied_from_the_driving_video(tmp_path):
    assert has_audio(TONE) and not has_audio(CARPHONE) and not has_audio(tmp_path)
    silent = write_video(tmp_path / "result.mp4", gradient_frames(15, 48, 64), fps=10)  # 1.5 s, the tone 2 s
    out = mux_audio(silent, TONE, tmp_path / "with_sound.mp4")
    assert has_audio(out)
    with open_video(out) as reader:
        assert (reader.num_frames, reader.fps, reader.size) == (15, 10, (48, 64))
    code, log = run_ffmpeg(["-i", out, "-map", "0:a:0", "-c", "copy", "-f", "null", "-"])
    hours, minutes, seconds = re.findall(r"time=(\d+):(\d+):([\d.]+)", log)[-1]
    assert code == 0 and hours == minutes == "00" and 1.4 < float(seconds) < 1.6  # the sound is cut to the video
    assert files_in(tmp_path) == ["result.mp4", "with_sound.mp4"]


def test_a_source_without_audio_gives_a_plain_copy(tmp_path):
    silent = write_video(tmp_path / "result.mp4", gradient_frames(3), fps=10)
    mux_audio(silent, CARPHONE, tmp_path / "copy.mp4")
    assert (tmp_path / "copy.mp4").read_bytes() == silent.read_bytes()
    gif = write_video(tmp_path / "result.gif", gradient_frames(3), fps=10)
    mux_audio(gif, TONE, tmp_path / "copy.gif")  # a GIF holds no sound
    assert (tmp_path / "copy.gif").read_bytes() == gif.read_bytes()


def test_muxing_in_place_and_errors(tmp_path):
    silent = write_video(tmp_path / "result.mp4", gradient_frames(3), fps=10)
    mux_audio(silent, TONE, silent)
    assert has_audio(silent) and files_in(tmp_path) == ["result.mp4"]
    with pytest.raises(MediaError, match="nothing.mp4: no such file"):
        mux_audio(tmp_path / "nothing.mp4", TONE, tmp_path / "out.mp4")
    with pytest.raises(MediaError, match="gone.mp4: no such file"):
        has_audio(tmp_path / "gone.mp4")


# ---------------------------------------------------------------- sizes


def test_fit_frame_crop_pad_and_stretch():
    frame = np.zeros((40, 80, 3), np.float32)
    frame[:, :20] = 1.0  # a white band on the left, outside the centre square
    cropped = fit_frame(frame, 20)
    assert cropped.shape == (20, 20, 3) and cropped.dtype == np.float32 and cropped.max() == 0
    frame[0] = frame[-1] = 0.5  # the edges that pad mode extends
    padded = fit_frame(frame, 80, "pad")
    assert padded.shape == (80, 80, 3)
    assert np.allclose(padded[:20], np.mean(np.concatenate([frame[0], frame[-1]]), axis=0))
    assert np.allclose(padded[20:60], frame)
    stretched = fit_frame(frame, 40, "stretch")
    assert stretched.shape == (40, 40, 3) and np.allclose(stretched[20, :9], 1)
    with pytest.raises(InputError, match="'crop', 'pad' or 'stretch'"):
        fit_frame(frame, 32, "zoom")
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        fit_frame(np.zeros((40, 80)), 32)


def test_fit_frame_antialiases_and_is_deterministic():
    checkers = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)
    small = fit_frame(np.repeat(checkers[..., None], 3, axis=2), 16)
    assert np.allclose(small, 0.5, atol=0.02)  # no aliasing: fine detail averages out
    photo = np.random.default_rng(1).random((90, 120, 3)).astype(np.float32)
    assert np.array_equal(fit_frame(photo, 64), fit_frame(photo, 64))
    as_bytes = (photo * 255).astype(np.uint8)
    assert np.array_equal(fit_frame(as_bytes, 64), fit_frame(as_bytes / np.float32(255), 64))


def test_crop_box():
    frame = np.random.default_rng(2).random((40, 60, 3)).astype(np.float32)
    assert np.array_equal(crop_box(frame, (10, 5, 30, 25)), frame[5:25, 10:30])
    assert crop_box(frame, (10, 5, 30, 25), size=8).shape == (8, 8, 3)
    with pytest.raises(InputError, match="does not lie inside the 60x40 frame"):
        crop_box(frame, (50, 0, 70, 20))


def test_side_by_side_puts_frames_in_a_row():
    source, driving = np.zeros((32, 32, 3), np.float32), np.ones((64, 128, 3), np.float32)
    row = side_by_side(source, driving)
    assert row.shape == (64, 192, 3) and row[:, :64].max() == 0 and row[:, 64:].min() == 1
    assert side_by_side(source, driving, height=32).shape == (32, 96, 3)
    labelled = side_by_side(source, driving, labels=["source", "driving"])
    assert labelled.shape == (76, 192, 3) and np.array_equal(labelled[12:], row)
    assert labelled[:12].max() > 0.5  # white text on the dark strip
    with pytest.raises(InputError, match="1 labels for 2 frames"):
        side_by_side(source, driving, labels=["source"])


# ---------------------------------------------------------------- tensors


def test_tensors_round_trip():
    frames = gradient_frames(4, 16, 24)
    tensor = to_tensor(frames)
    assert tensor.shape == (4, 3, 16, 24) and tensor.dtype == torch.float32
    assert tensor.is_contiguous(memory_format=torch.channels_last)  # the frames' own memory, not copied
    assert np.array_equal(to_numpy(tensor), frames)
    assert to_tensor(frames[0]).shape == (1, 3, 16, 24)
    assert to_numpy(tensor[0]).shape == (16, 24, 3)
    assert torch.equal(to_tensor(np.full((2, 2, 3), 255, np.uint8)), torch.ones(1, 3, 2, 2))
    with pytest.raises(InputError, match="got shape"):
        to_tensor(np.zeros((4, 16, 24)))
    with pytest.raises(InputError, match="got shape"):
        to_numpy(torch.zeros(4, 16, 24))
