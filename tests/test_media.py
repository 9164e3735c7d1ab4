"""Media in and out with real files and the real ffmpeg: round trips, bad input, atomic writes, audio."""

import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from fomm_nb import MediaError
from fomm_nb.media import (
    VideoWriter,
    _ffmpeg,
    fit_frame,
    has_audio,
    mux_audio,
    open_video,
    read_image,
    read_video,
    side_by_side,
    write_image,
    write_video,
)

CARPHONE = Path(__file__).parent / "fixtures" / "media" / "carphone_pristine.mp4"


def gradient_frames(count=6, height=48, width=64):
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    return np.stack([np.stack([x, y, np.full_like(x, t / count)], -1) for t in range(count)]).astype(np.float32)


def test_real_talking_head_clip_streams_with_its_metadata():
    with open_video(CARPHONE) as reader:
        assert reader.size == (144, 176) and reader.fps == pytest.approx(29.97) and reader.num_frames == 120
        frames = iter(reader)
        first = next(frames)
    assert first.shape == (144, 176, 3) and first.dtype == np.float32 and 0 <= first.min() <= first.max() <= 1
    frames, fps = read_video(CARPHONE, max_frames=10)
    assert frames.shape == (10, 144, 176, 3)


def test_mp4_round_trip_keeps_size_fps_and_content(tmp_path):
    frames = gradient_frames()
    write_video(tmp_path / "clip.mp4", frames, fps=29.97)
    again, fps = read_video(tmp_path / "clip.mp4")
    assert again.shape == frames.shape and fps == pytest.approx(29.97)
    assert np.abs(again - frames).mean() < 0.02


def test_odd_sizes_are_padded_to_even_for_h264(tmp_path):
    write_video(tmp_path / "odd.mp4", gradient_frames(3, 33, 47), fps=10)
    assert read_video(tmp_path / "odd.mp4")[0].shape == (3, 34, 48, 3)


def test_gif_and_frame_folder_round_trips(tmp_path):
    frames = gradient_frames(4)
    write_video(tmp_path / "clip.gif", frames, fps=10)
    again, fps = read_video(tmp_path / "clip.gif")
    assert again.shape == frames.shape and fps == pytest.approx(10)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        write_image(folder / f"{index:04d}.png", frame)
    again, _ = read_video(folder)
    assert np.abs(again - frames).max() < 1 / 255 + 1e-6


def test_images_of_every_kind_become_rgb(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[:4, :, 3], rgba[4:, :, 3] = 255, 255, 0
    iio.imwrite(tmp_path / "rgba.png", rgba)
    image = read_image(tmp_path / "rgba.png")
    assert image.shape == (8, 8, 3)
    assert np.allclose(image[0, 0], [1, 0, 0]) and np.allclose(image[7, 7], [1, 1, 1])  # transparent -> white
    iio.imwrite(tmp_path / "grey.jpg", np.full((8, 8), 128, np.uint8))
    assert read_image(tmp_path / "grey.jpg").shape == (8, 8, 3)
    iio.imwrite(tmp_path / "pic.webp", np.full((8, 8, 3), 200, np.uint8))
    assert read_image(tmp_path / "pic.webp")[0, 0, 0] == pytest.approx(200 / 255, abs=0.02)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("absent.mp4", None, "no such file"),
        ("empty.mp4", b"", "empty"),
        ("noise.mp4", b"\x00\x17garbage" * 200, "not a readable video"),
    ],
)
def test_bad_videos_give_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as caught:
        open_video(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_bad_images_and_empty_folders(tmp_path):
    (tmp_path / "noise.png").write_bytes(b"not a png at all")
    with pytest.raises(MediaError, match="noise.png: not a readable image"):
        read_image(tmp_path / "noise.png")
    (tmp_path / "frames").mkdir()
    with pytest.raises(MediaError, match="holds no frames"):
        open_video(tmp_path / "frames")


def test_video_with_no_frames_is_an_error(tmp_path):
    path = tmp_path / "silent.mp4"
    subprocess.run([_ffmpeg(), "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "0.5", str(path)], check=True)
    with pytest.raises(MediaError, match="silent.mp4: .*(no frames|not a readable video)"):
        open_video(path)


def test_interrupted_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.mp4"
    target.write_bytes(b"the user's older result")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, fps=10) as writer:
            writer.append(gradient_frames(1)[0])
            raise KeyboardInterrupt
    assert target.read_bytes() == b"the user's older result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]


def test_audio_is_muxed_from_the_driving_video(tmp_path):
    with_sound = tmp_path / "talk.mp4"
    subprocess.run(
        [_ffmpeg(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-f", "lavfi",
         "-i", "sine=frequency=440:sample_rate=16000", "-t", "1", "-pix_fmt", "yuv420p", str(with_sound)],
        check=True,
    )
    assert has_audio(with_sound) and not has_audio(CARPHONE)
    silent = write_video(tmp_path / "result.mp4", gradient_frames(10, 64, 64), fps=10)
    mux_audio(silent, with_sound, tmp_path / "with_audio.mp4")
    assert has_audio(tmp_path / "with_audio.mp4")
    mux_audio(silent, CARPHONE, tmp_path / "no_audio.mp4")  # no audio in the source: a plain copy
    assert (tmp_path / "no_audio.mp4").read_bytes() == silent.read_bytes()


def test_fit_frame_modes_and_side_by_side():
    frame = np.zeros((40, 80, 3), np.float32)
    frame[:, :20] = 1.0  # a white band on the left
    assert fit_frame(frame, 32, "crop")[:, 0].max() == 0.0  # the centre crop drops the band
    padded = fit_frame(frame, 32, "pad")
    assert padded.shape == (32, 32, 3) and padded[16, 0, 0] == pytest.approx(1.0)
    assert fit_frame(frame, 32, "stretch").shape == (32, 32, 3)
    with pytest.raises(MediaError, match="crop mode"):
        fit_frame(frame, 32, "zoom")
    assert side_by_side(np.zeros((32, 32, 3)), np.zeros((64, 128, 3))).shape == (64, 192, 3)
    assert side_by_side(np.zeros((32, 32, 3)), np.zeros((64, 128, 3)), height=32).shape == (32, 96, 3)
