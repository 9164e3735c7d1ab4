"""Files in, files out, on real media: face crops, the crop picture, the best frame, and runs that fail.

The media are real: scikit-image's astronaut (a photo with a face) and the
first 20 frames of the carphone clip (a talking head), animated by the
bundled 64x64 demo model.
"""

import re
import sys

import cv2
import numpy as np
import pytest

from fomm_nb import face
from fomm_nb.animate import AnimationEngine
from fomm_nb.best_frame import animate_from_best_frame, find_best_frame
from fomm_nb.errors import FommError, InputError, MediaError
from fomm_nb.face import FaceNotFoundError
from fomm_nb.hub import get_model
from fomm_nb.media import fit_frame, read_image, read_video, write_image, write_video
from fomm_nb.pipeline import animate_files

from conftest import CARPHONE_FRAMES

BEST = 7  # where the best-frame clip shows the source itself


@pytest.fixture(scope="module")
def model():
    return get_model("demo", device="cpu")


@pytest.fixture(scope="module")
def gradient(tmp_path_factory):
    """``(picture, video)`` without a face: a colour gradient, as a png and as a 5-frame mp4."""
    folder = tmp_path_factory.mktemp("no-face")
    ramp = np.linspace(0, 1, 96 * 128, dtype=np.float32).reshape(96, 128, 1) * [1.0, 0.6, 0.3]
    write_image(folder / "gradient.png", ramp)
    write_video(folder / "gradient.mp4", np.stack([ramp] * 5), fps=10)
    return folder / "gradient.png", folder / "gradient.mp4"


@pytest.fixture(scope="module")
def best_frame_clip(real_media, model, tmp_path_factory):
    """``(source, clip)``: the fitted astronaut, and 12 carphone frames with the source inserted at :data:`BEST`."""
    photo, talk = real_media
    size = model.image_size
    source = fit_frame(read_image(photo), size)
    frames = [fit_frame(frame, size) for frame in read_video(talk, max_frames=12)[0]]
    frames.insert(BEST, source)
    path = tmp_path_factory.mktemp("best-frame") / "clip.mp4"
    write_video(path, frames, fps=10)
    return source, path


def shrink(picture, size):
    return cv2.resize(picture, (size, size), interpolation=cv2.INTER_AREA)


def test_face_crop_animates_the_whole_clip_and_draws_the_crops(model, real_media, tmp_path):
    photo, talk = real_media
    out, sbs, picture = tmp_path / "result.mp4", tmp_path / "sbs.mp4", tmp_path / "crops.png"
    result = animate_files(model, photo, talk, out, crop="face", side_by_side_path=sbs, crop_picture_path=picture)
    frames, _ = read_video(out)
    assert frames.shape == (CARPHONE_FRAMES, 64, 64, 3) and result.num_frames == CARPHONE_FRAMES
    assert result.best_frame is None
    # the side-by-side shows what the model saw: the face crops, not the centre squares
    panels = read_video(sbs)[0][0]
    source_panel, driving_panel = (shrink(panels[:, i * 256 : (i + 1) * 256], 64) for i in (0, 1))
    image, first = read_image(photo), read_video(talk, max_frames=1)[0][0]
    box = face.video_crop_boxes(read_video(talk)[0])[0]
    assert np.abs(source_panel - face.crop_to_face(image, 64)).mean() < 0.03
    assert np.abs(source_panel - fit_frame(image, 64)).mean() > 0.2
    assert np.abs(driving_panel - face.crop(first, box, 64)).mean() < 0.03
    assert np.abs(driving_panel - fit_frame(first, 64)).mean() > 0.1
    drawn = read_image(picture)
    assert drawn.shape[1] > 1.5 * drawn.shape[0], "source and driving frame side by side"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.png", "result.mp4", "sbs.mp4"]


@pytest.mark.parametrize("missing", ["source", "driving"])
def test_a_file_without_a_face_is_refused_by_name_and_nothing_is_written(
    model, real_media, gradient, tmp_path, missing
):
    photo, talk = real_media
    source, driving = (gradient[0], talk) if missing == "source" else (photo, gradient[1])
    out = tmp_path / "result.mp4"
    out.write_bytes(b"an older result")
    with pytest.raises(FaceNotFoundError) as caught:
        animate_files(model, source, driving, out, crop="face", crop_picture_path=tmp_path / "crops.png")
    message = str(caught.value)
    named = source if missing == "source" else driving
    assert message.startswith(f"{named}: no face found") and "\n" not in message
    assert out.read_bytes() == b"an older result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.mp4"]


def test_best_frame_starts_from_the_frame_closest_in_pose(model, real_media, best_frame_clip, tmp_path):
    photo, _ = real_media
    source, clip = best_frame_clip
    best = animate_files(model, photo, clip, tmp_path / "best.mp4", best_frame="keypoints")
    plain = animate_files(model, photo, clip, tmp_path / "plain.mp4")
    fitted = [fit_frame(frame, model.image_size) for frame in read_video(clip)[0]]
    assert best.best_frame == find_best_frame(model, source, fitted) == BEST
    assert plain.best_frame is None and best.num_frames == plain.num_frames == len(fitted)
    engine = AnimationEngine(model)
    engine.set_source(source)
    expected = np.stack(list(animate_from_best_frame(engine, fitted, BEST)))
    best_video, plain_video = read_video(best.video)[0], read_video(plain.video)[0]
    assert np.abs(best_video - expected).mean() < 0.04, "the in-memory animation, up to mp4 compression"
    assert np.abs(best_video[0] - plain_video[0]).mean() > 0.1, "the initial frame must matter"


def test_best_frame_true_means_keypoints(model, real_media, best_frame_clip, tmp_path):
    photo, _ = real_media
    assert animate_files(model, photo, best_frame_clip[1], tmp_path / "r.mp4", best_frame=True).best_frame == BEST


def test_best_frame_by_landmarks_without_face_alignment_says_to_install_it(model, real_media, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "face_alignment", None)  # makes the import fail, even where it is installed
    face._landmark_model.cache_clear()
    photo, talk = real_media
    try:
        with pytest.raises(InputError, match="pip install face-alignment") as caught:
            animate_files(model, photo, talk, tmp_path / "r.mp4", best_frame="landmarks")
    finally:
        face._landmark_model.cache_clear()
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_a_run_stopped_midway_leaves_the_folder_as_it_was(model, real_media, tmp_path, error):
    photo, talk = real_media
    out = tmp_path / "result.mp4"
    out.write_bytes(b"an older result")
    seen = []

    def stop_at_frame_5(done, total):
        seen.append(done)
        if done == 5:
            raise error("stopped")

    with pytest.raises(error):
        animate_files(model, photo, talk, out, batch_size=4, crop="face", side_by_side_path=tmp_path / "sbs.mp4",
                      crop_picture_path=tmp_path / "crops.png", best_frame="keypoints", progress=stop_at_frame_5)
    assert seen == [1, 2, 3, 4, 5], "stopped in the second batch of four"
    assert out.read_bytes() == b"an older result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.mp4"], "no temporary files, no side-by-side, no picture"


@pytest.mark.parametrize(
    "option, message",
    [
        ({"crop": "circle"}, "crop must be one of crop, pad, stretch, face, got 'circle'"),
        ({"best_frame": "dlib"}, "best_frame must be False, 'keypoints' or 'landmarks', got 'dlib'"),
        ({"crop_picture_path": "crops.gif"}, "crop_picture_path crops.gif: cannot write '.gif' files; use .png"),
    ],
)
def test_unknown_options_are_refused(model, real_media, tmp_path, option, message):
    photo, talk = real_media
    with pytest.raises(FommError, match=re.escape(message)):
        animate_files(model, photo, talk, tmp_path / "r.mp4", **option)
    assert list(tmp_path.iterdir()) == []


def test_an_error_about_a_partial_file_names_the_users_path(tmp_path):
    from fomm_nb.media.files import partial_beside
    from fomm_nb.pipeline import _user_paths

    out = tmp_path / "result.mp4"
    partial = partial_beside(out)
    inner = partial_beside(partial)  # what the writer makes of it
    with pytest.raises(MediaError) as caught, _user_paths({partial: out, None: None}):
        raise MediaError(f"{inner}: ffmpeg stopped ('{partial}' is not writable)")
    assert str(caught.value) == f"{out}: ffmpeg stopped ('{out}' is not writable)"
