"""The animation engine: batching, streaming and options give the same frames as the plain model."""

import numpy as np
import pytest
import torch

import fomm_nb
from fomm_nb.animate import AnimationEngine, MotionOptions
from fomm_nb.types import DenseMotion, Keypoints
from conftest import OFFICIAL, load_golden


@pytest.fixture(scope="module")
def model():
    return fomm_nb.load_model(OFFICIAL / "tiny-mgif.yaml", OFFICIAL / "tiny-mgif.pth.tar", device="cpu")


@pytest.fixture(scope="module")
def clip():
    """A source and 7 driving frames (128x128): the golden frames, then small shifts of them."""
    golden = load_golden("tiny-mgif")
    source = golden["source"][0].permute(1, 2, 0).numpy()
    driving = golden["driving"].permute(0, 2, 3, 1).numpy()
    shifted = [np.roll(driving[t % 2], shift=2 * t, axis=1) for t in range(5)]
    return source, np.concatenate([driving, np.stack(shifted)])


@torch.no_grad()
def reference_frames(model, source, driving, **normalization):
    """The published per-frame loop: batch 1, nothing cached."""
    to_tensor = lambda image: torch.from_numpy(image).permute(2, 0, 1)[None]
    kp_source = model.kp_detector(to_tensor(source))
    kp_initial = model.kp_detector(to_tensor(driving[0]))
    frames = []
    for frame in driving:
        kp_driving = model.kp_detector(to_tensor(frame))
        kp_norm = fomm_nb.normalize_kp(kp_source, kp_driving, kp_initial, **normalization)
        out = model.generator(to_tensor(source), kp_source=kp_source, kp_driving=kp_norm)
        frames.append(out["prediction"][0].permute(1, 2, 0).numpy())
    return np.stack(frames)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_batched_animation_equals_frame_by_frame(model, clip, batch_size):
    source, driving = clip
    expected = reference_frames(model, source, driving)
    actual = fomm_nb.animate(model, source, driving, batch_size=batch_size)
    assert actual.shape == expected.shape == (7, 128, 128, 3)
    assert np.abs(actual - expected).max() <= 1e-5


PUBLISHED_MODES = {
    "relative": MotionOptions(),
    "relative_adapt": MotionOptions(adapt_movement_scale=True),
    "absolute": MotionOptions(relative=False),
}


@pytest.mark.parametrize("mode", PUBLISHED_MODES)
def test_each_mode_gives_the_published_predictions(model, clip, mode):
    """On the golden frames (the clip's first two), the engine reproduces the published code's output."""
    golden = load_golden("tiny-mgif")
    source, driving = clip
    actual = fomm_nb.animate(model, source, driving[:2], options=PUBLISHED_MODES[mode], batch_size=2)
    for t in range(2):
        expected = golden[f"out_{mode}_prediction_{t}"][0].permute(1, 2, 0).numpy()
        assert np.abs(actual[t] - expected).max() <= 1e-5, f"{mode} frame {t}"


def test_absolute_option_equals_the_per_frame_loop(model, clip):
    source, driving = clip
    expected = reference_frames(model, source, driving, use_relative_movement=False)
    actual = fomm_nb.animate(model, source, driving, options=MotionOptions(relative=False), batch_size=4)
    assert np.abs(actual - expected).max() <= 1e-5
    relative = fomm_nb.animate(model, source, driving, batch_size=4)
    assert np.abs(actual - relative).max() > 1e-4, "absolute and relative transfer must differ"


def test_stream_is_lazy(model, clip):
    """The engine pulls only one batch of frames ahead: a stream of any length stays in memory bounds."""
    source, driving = clip
    pulled = []

    def frames():
        for t in range(100):
            pulled.append(t)
            yield driving[t % len(driving)]

    engine = AnimationEngine(model, batch_size=4)
    engine.set_source(source)
    stream = engine.stream(frames())
    first = next(stream)
    assert first.shape == (128, 128, 3)
    assert len(pulled) == 4


def test_intermediates_are_returned_on_request(model, clip):
    source, driving = clip
    engine = AnimationEngine(model, batch_size=2)
    engine.set_source(source)
    out = engine.animate_batch(driving[:2], return_intermediates=True)
    assert out["prediction"].shape == (2, 3, 128, 128)
    assert out["mask"].shape == (2, 11, 32, 32)
    assert out["sparse_deformed"].shape == (2, 11, 3, 32, 32)
    assert out["occlusion_map"].shape == (2, 1, 32, 32)
    assert out["deformed"].shape == (2, 3, 128, 128)
    assert out["kp_norm"]["value"].shape == (2, 10, 2)
    assert torch.allclose(out["mask"].sum(dim=1), torch.ones(2, 32, 32), atol=1e-5)


def test_wrong_frame_size_is_a_clear_error(model, clip):
    engine = AnimationEngine(model)
    engine.set_source(clip[0])
    with pytest.raises(fomm_nb.InputError, match="driving frames must be 128x128 with 3 channels, got 64x64"):
        engine.animate_batch(np.zeros((1, 64, 64, 3), dtype=np.float32))
    with pytest.raises(fomm_nb.InputError, match="with 3 channels, got 128x128 with 1"):
        engine.animate_batch(np.zeros((1, 128, 128, 1), dtype=np.float32))


def test_keypoints_that_do_not_fit_the_model_are_a_clear_error(model, clip):
    source, _ = clip
    engine = AnimationEngine(model)
    engine.set_source(source)
    num_kp = model.config.num_kp
    good = {"value": torch.zeros(1, num_kp, 2), "jacobian": torch.eye(2).repeat(1, num_kp, 1, 1)}
    assert engine.animate_keypoints(good)["prediction"].shape[0] == 1
    with pytest.raises(fomm_nb.InputError, match=rf"'value' must have shape \(B, {num_kp}, 2\) for this model, got \(1, 3, 2\)"):
        engine.animate_keypoints({**good, "value": torch.zeros(1, 3, 2)})
    with pytest.raises(fomm_nb.InputError, match="keypoints without 'jacobian'"):
        engine.animate_keypoints({"value": good["value"]})


def test_a_model_loaded_under_inference_mode_animates(clip):
    """Inference tensors have no version counter; the engine's cache of its fast copy must not need one."""
    source, driving = clip
    with torch.inference_mode():
        model = fomm_nb.load_model(OFFICIAL / "tiny-mgif.yaml", OFFICIAL / "tiny-mgif.pth.tar", device="cpu")
    assert next(model.parameters()).is_inference()
    actual = fomm_nb.animate(model, source, driving[:3], batch_size=2)
    with torch.inference_mode():
        expected = reference_frames(model, source, driving[:3])
    assert np.abs(actual - expected).max() <= 1e-5


def test_render_applies_the_engine_options_to_given_keypoints(model, clip):
    """animate_batch is detect + render; render transfers with engine.options, set at any time."""
    source, driving = clip
    engine = AnimationEngine(model, batch_size=4)
    engine.set_source(source)
    kp_driving = engine.detect(driving[:4])
    assert isinstance(kp_driving, Keypoints) and kp_driving.value.shape == (4, 10, 2)
    relative = engine.render(kp_driving)
    assert torch.equal(relative, engine.animate_batch(driving[:4]))
    engine.options = MotionOptions(relative=False)
    absolute = engine.render(kp_driving, return_intermediates=True)
    assert torch.equal(absolute["kp_norm"]["value"], kp_driving.value)
    assert (absolute["prediction"] - relative).abs().max() > 1e-4
    expected = reference_frames(model, source, driving[:4], use_relative_movement=False)
    assert np.abs(absolute["prediction"].permute(0, 2, 3, 1).numpy() - expected).max() <= 1e-5


def test_the_stages_for_the_explorer_match_the_generator(model, clip):
    source, driving = clip
    engine = AnimationEngine(model, batch_size=2)
    engine.set_source(source)
    out = engine.render(engine.detect(driving[:2]), return_intermediates=True)
    motion = engine.dense_motion(out["kp_norm"])
    assert isinstance(motion, DenseMotion)
    for key in ("mask", "deformation", "occlusion_map", "sparse_deformed"):
        assert torch.allclose(motion[key], out[key], atol=1e-5), key
    assert torch.allclose(engine.warp_source(motion.deformation), out["deformed"], atol=1e-5)
    heatmaps = engine.heatmap_difference(out["kp_norm"])
    assert heatmaps.shape == (2, 11, 32, 32) and engine.source_for_motion.shape == (1, 3, 32, 32)
    assert torch.equal(heatmaps[:, 0], torch.zeros(2, 32, 32))  # the background has no gaussian
    assert engine.has_dense_motion
