"""The compatibility contract with the published checkpoints (tests/fixtures/official/README.md).

Every reference array of the tiny models is reproduced within 1e-4 through
the public API, and every published config builds a model whose state dict
has exactly the published keys and shapes.
"""

import json

import pytest
import torch

import fomm_nb
from conftest import OFFICIAL, TINY_MODELS, golden_kp, load_golden

TOLERANCE = 1e-4
MODES = {
    "relative": {},
    "relative_adapt": {"adapt_movement_scale": True},
    "absolute": {"use_relative_movement": False},
}


@pytest.fixture(scope="module", params=TINY_MODELS)
def tiny(request):
    name = request.param
    model = fomm_nb.load_model(OFFICIAL / f"{name}.yaml", OFFICIAL / f"{name}.pth.tar", device="cpu")
    return name, model, load_golden(name)


def assert_close(actual, expected, what):
    assert actual.shape == expected.shape, what
    error = (actual - expected).abs().max().item()
    assert error <= TOLERANCE, f"{what}: max abs error {error:.2e}"


@torch.no_grad()
def test_keypoints_and_jacobians_match(tiny):
    name, model, golden = tiny
    kp = model.kp_detector(golden["source"])
    assert_close(kp["value"], golden["kp_source_value"], f"{name} source keypoints")
    assert_close(kp["jacobian"], golden["kp_source_jacobian"], f"{name} source jacobians")
    for t in range(golden["driving"].shape[0]):
        kp = model.kp_detector(golden["driving"][t : t + 1])
        assert_close(kp["value"], golden[f"kp_driving_value_{t}"], f"{name} driving keypoints {t}")
        assert_close(kp["jacobian"], golden[f"kp_driving_jacobian_{t}"], f"{name} driving jacobians {t}")


@pytest.mark.parametrize("mode", MODES)
def test_normalized_keypoints_match(tiny, mode):
    name, _, golden = tiny
    kp_source = golden_kp(golden, "kp_source")
    kp_initial = golden_kp(golden, "kp_driving", 0)
    for t in range(golden["driving"].shape[0]):
        kp_norm = fomm_nb.normalize_kp(kp_source, golden_kp(golden, "kp_driving", t), kp_initial, **MODES[mode])
        expected = golden_kp(golden, f"kp_norm_{mode}", t)
        assert_close(kp_norm["value"], expected["value"], f"{name} {mode} values {t}")
        assert_close(kp_norm["jacobian"], expected["jacobian"], f"{name} {mode} jacobians {t}")


@torch.no_grad()
def test_generator_outputs_match_in_relative_mode(tiny):
    name, model, golden = tiny
    kp_source = model.kp_detector(golden["source"])
    for t in range(golden["driving"].shape[0]):
        out = model.generator(golden["source"], kp_source=kp_source, kp_driving=golden_kp(golden, "kp_norm_relative", t))
        for key in ("mask", "sparse_deformed", "occlusion_map", "deformed", "prediction"):
            assert_close(out[key], golden[f"out_relative_{key}_{t}"], f"{name} {key} {t}")


@torch.no_grad()
@pytest.mark.parametrize("mode", ["relative_adapt", "absolute"])
def test_end_to_end_predictions_match(tiny, mode):
    """Detector, motion transfer and generator chained, as a user calls them."""
    name, model, golden = tiny
    kp_source = model.kp_detector(golden["source"])
    kp_initial = model.kp_detector(golden["driving"][:1])
    for t in range(golden["driving"].shape[0]):
        kp_driving = model.kp_detector(golden["driving"][t : t + 1])
        kp_norm = fomm_nb.normalize_kp(kp_source, kp_driving, kp_initial, **MODES[mode])
        out = model.generator(golden["source"], kp_source=kp_source, kp_driving=kp_norm)
        assert_close(out["prediction"], golden[f"out_{mode}_prediction_{t}"], f"{name} {mode} prediction {t}")


def test_antialias_kernel_matches_the_stored_buffer(tiny):
    """Our blur kernel equals the published one, so models trained here agree with the reference."""
    name, model, _ = tiny
    stored = torch.load(OFFICIAL / f"{name}.pth.tar", map_location="cpu", weights_only=True)
    fresh = fomm_nb.load_model(OFFICIAL / f"{name}.yaml", device="cpu")
    assert_close(fresh.kp_detector.down.weight, stored["kp_detector"]["down.weight"], f"{name} kernel")


SHAPES = json.loads((OFFICIAL / "official_state_dict_shapes.json").read_text())


@pytest.mark.parametrize("config_name", sorted(SHAPES))
def test_published_configs_build_the_published_state_dicts(config_name):
    model = fomm_nb.load_model(config_name, device="cpu", with_discriminator=True)
    for part, expected in SHAPES[config_name].items():
        actual = {key: list(tensor.shape) for key, tensor in getattr(model, part).state_dict().items()}
        assert actual == expected, f"{config_name} {part}"
