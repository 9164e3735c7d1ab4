"""Hostile videos: animated images, truncated animations, bad folders of frames, names ffmpeg would misread.

Every bad input is one :class:`~fomm_nb.errors.MediaError` line that names
the file, raised when the video is *opened* (before a progress bar could
start), not half-way through the frames.
"""

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from fomm_nb import MediaError
from fomm_nb.media import has_audio, mux_audio, open_video, read_video, write_image, write_video
from fomm_nb.media.files import MAX_PIXELS

from conftest import MEDIA

TONE = MEDIA / "tone.mp4"  # 2 s with a 440 Hz tone

ANIMATIONS = {"gif": "GIF", "webp": "WEBP", "png": "PNG"}  # png: APNG


def animation_bytes(suffix, frames, duration_ms):
    """``frames`` ``(T, H, W, 3)`` float32 as an animated GIF, WebP or APNG (lossless where the format allows)."""
    pictures = [Image.fromarray((frame * 255 + 0.5).astype(np.uint8)) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format=ANIMATIONS[suffix], save_all=True, append_images=pictures[1:],
                     duration=duration_ms, loop=0, **({"lossless": True} if suffix == "webp" else {}))
    return buffer.getvalue()


def gradient_frames(count, height=48, width=64):
    """Smooth frames ``(count, height, width, 3)`` that change over time (video codecs keep them well)."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    return np.stack([np.stack([x, y, np.full_like(x, t / count)], -1) for t in range(count)]).astype(np.float32)


def distinct_frames(count=6, height=32, width=40):
    """Frames that differ a lot from one to the next (an animation encoder must keep each)."""
    levels = np.linspace(0.1, 0.9, count, dtype=np.float32)
    frames = np.empty((count, height, width, 3), np.float32)
    frames[:] = levels[:, None, None, None]
    frames[:, :, : width // 2, 0] = 1 - levels[:, None, None]  # a left half that changes the other way
    return frames


def assert_one_line(caught, path):
    message = str(caught.value)
    assert path.name in message and "\n" not in message, message


@pytest.mark.parametrize("suffix", ["webp", "png"])
def test_an_animated_webp_or_apng_is_read_with_all_its_frames(tmp_path, suffix):
    frames = distinct_frames()
    path = tmp_path / f"wave.{suffix}"
    path.write_bytes(animation_bytes(suffix, frames, duration_ms=40))
    with open_video(path) as reader:
        assert (reader.num_frames, reader.size, reader.fps) == (6, (32, 40), 25.0)
    again, fps = read_video(path)
    assert again.shape == frames.shape and fps == 25.0
    assert np.abs(again - frames).max() <= 1 / 255 + 1e-6  # every frame in its place, none repeated


@pytest.mark.parametrize("suffix", ["webp", "png"])
def test_a_still_webp_or_png_stays_a_one_frame_video(tmp_path, suffix):
    path = write_image(tmp_path / f"face.{suffix}", gradient_frames(1)[0])
    with open_video(path, default_fps=12) as reader:
        assert (reader.num_frames, reader.fps) == (1, 12)


LAST_FRAME = {"gif": b"\x21\xf9", "webp": b"ANMF", "png": b"fcTL"}  # where each format starts a frame


@pytest.mark.parametrize("cut", ["10%", "50%", "90%", "before the last frame", "in the last frame"])
@pytest.mark.parametrize("suffix", sorted(ANIMATIONS))
def test_a_truncated_animation_is_one_line_when_opened(tmp_path, recwarn, suffix, cut):
    whole = animation_bytes(suffix, distinct_frames(), duration_ms=40)
    last = whole.rfind(LAST_FRAME[suffix])
    length = {"before the last frame": last - 4, "in the last frame": last + 10}.get(cut)
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(whole[: length or int(len(whole) * int(cut[:-1]) / 100)])
    with pytest.raises(MediaError) as caught:
        open_video(path)
    assert_one_line(caught, path)
    assert not [str(w.message) for w in recwarn]


def test_an_animation_over_the_pixel_budget_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("fomm_nb.media.files.MAX_PIXELS", 32 * 40 - 1)  # the budget, made small to stay fast
    path = tmp_path / "wave.gif"
    path.write_bytes(animation_bytes("gif", distinct_frames(), duration_ms=40))
    with pytest.raises(MediaError, match=r"40x32 .* budget") as caught:
        open_video(path)
    assert_one_line(caught, path)
    assert MAX_PIXELS > 32 * 40  # the real budget is untouched outside this test


def frames_folder(tmp_path, count=4):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(gradient_frames(count, 16, 24)):
        write_image(folder / f"{index:04d}.png", frame)
    return folder


def not_an_image(folder):
    (folder / "0002.png").write_bytes(b"not a picture at all")


def empty(folder):
    (folder / "0002.png").write_bytes(b"")


def other_size(folder):
    write_image(folder / "0003.png", np.zeros((24, 16, 3)))


@pytest.mark.parametrize("damage, message", [
    (not_an_image, "0002.png: not an image"),
    (empty, "0002.png: the file is empty"),
    (other_size, "0003.png: the frame is 16x24, the first is 24x16"),
])
def test_a_bad_folder_of_frames_is_named_when_opened(tmp_path, damage, message):
    folder = frames_folder(tmp_path)
    damage(folder)
    with pytest.raises(MediaError, match=message) as caught:
        open_video(folder)  # before any frame is asked for
    assert "\n" not in str(caught.value)


def test_a_frame_cut_after_its_header_is_named_when_read(tmp_path):
    folder = frames_folder(tmp_path)
    (folder / "0003.png").write_bytes((folder / "0003.png").read_bytes()[:-40])
    with open_video(folder) as reader, pytest.raises(MediaError, match="0003.png: the image is damaged") as caught:
        list(reader)  # headers are read when opened, pixels when read
    assert "\n" not in str(caught.value)


def test_other_files_and_folders_in_a_folder_of_frames_are_left_out(tmp_path):
    folder = frames_folder(tmp_path)
    (folder / "9999.jpg").mkdir()
    (folder / "notes.txt").write_text("not a frame")
    with open_video(folder) as reader:
        assert reader.num_frames == 4 and len(list(reader)) == 4


def test_a_frame_turned_by_exif_counts_with_its_upright_size(tmp_path):
    folder = frames_folder(tmp_path, count=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter: stored 16 wide and 24 high, upright 24x16 as the others
    Image.fromarray(np.zeros((24, 16, 3), np.uint8)).save(folder / "0002.jpg", exif=exif)
    with open_video(folder) as reader:
        assert reader.num_frames == 3 and [frame.shape for frame in reader] == [(16, 24, 3)] * 3


@pytest.mark.parametrize("name", ["concat:a.mp4|b.mp4", "-y.mp4", "pipe:0.mp4", "subfile,,start,0,end,0,,:a.mp4"])
def test_a_file_name_ffmpeg_could_misread_is_that_file(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    frames = gradient_frames(5)
    write_video("a.mp4", gradient_frames(3)[::-1], fps=10)  # the files a protocol would read instead
    write_video("b.mp4", gradient_frames(3)[::-1], fps=10)
    write_video(name, frames, fps=10)  # written by its name too
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.mp4", "b.mp4", name])
    again, fps = read_video(name)
    assert again.shape == frames.shape and fps == 10 and np.abs(again - frames).mean() < 0.02
    assert has_audio(name) is False


def test_sound_is_read_and_written_through_names_ffmpeg_could_misread(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(TONE, "concat:tone.mp4|x.mp4")
    write_video("-y.mp4", gradient_frames(5), fps=10)
    mux_audio("-y.mp4", "concat:tone.mp4|x.mp4", "pipe:1.mp4")
    assert has_audio("pipe:1.mp4") and read_video("pipe:1.mp4")[0].shape == (5, 48, 64, 3)
