"""Loading checkpoints: published layout, inference layout, and every way a file can be wrong."""

import shutil

import pytest
import torch

import fomm_nb
from fomm_nb import CheckpointError, ConfigError
from fomm_nb.checkpoints import save_inference_checkpoint
from conftest import OFFICIAL

MGIF_YAML = OFFICIAL / "tiny-mgif.yaml"
MGIF_CKPT = OFFICIAL / "tiny-mgif.pth.tar"
VOX_YAML = OFFICIAL / "tiny-vox.yaml"
VOX_CKPT = OFFICIAL / "tiny-vox.pth.tar"


def test_published_layout_loads_with_the_discriminator():
    model = fomm_nb.load_model(VOX_YAML, VOX_CKPT, device="cpu", with_discriminator=True)
    stored = torch.load(VOX_CKPT, map_location="cpu", weights_only=True)
    for part in ("kp_detector", "generator", "discriminator"):
        for key, tensor in getattr(model, part).state_dict().items():
            assert torch.equal(tensor, stored[part][key]), f"{part}.{key}"
    assert not model.training


def test_inference_checkpoint_round_trip_carries_its_config(tmp_path):
    model = fomm_nb.load_model(MGIF_YAML, MGIF_CKPT, device="cpu")
    path = save_inference_checkpoint(model, tmp_path / "small.pth.tar")
    stored = torch.load(path, map_location="cpu", weights_only=True)
    assert set(stored) == {"generator", "kp_detector", "config"}
    again = fomm_nb.load_model(checkpoint=path, device="cpu")
    assert again.config.kp_detector_params["single_jacobian_map"] is True
    for key, tensor in model.generator.state_dict().items():
        assert torch.equal(tensor, again.generator.state_dict()[key])
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"


def test_checkpoint_with_only_generator_and_detector_loads(tmp_path):
    stored = torch.load(VOX_CKPT, map_location="cpu", weights_only=True)
    torch.save({"generator": stored["generator"], "kp_detector": stored["kp_detector"]}, tmp_path / "lean.pth.tar")
    model = fomm_nb.load_model(VOX_YAML, tmp_path / "lean.pth.tar", device="cpu", with_discriminator=True)
    assert model.discriminator is not None


def test_mgif_checkpoint_with_a_vox_config_names_the_cause():
    with pytest.raises(CheckpointError) as caught:
        fomm_nb.load_model(VOX_YAML, MGIF_CKPT, device="cpu")
    message = str(caught.value)
    assert "tiny-mgif.pth.tar" in message and "jacobian head has 4 channels" in message
    assert "single_jacobian_map" in message and "\n" not in message


def test_vox_checkpoint_with_an_mgif_config_names_the_cause():
    with pytest.raises(CheckpointError, match="one Jacobian per keypoint, drop single_jacobian_map"):
        fomm_nb.load_model(MGIF_YAML, VOX_CKPT, device="cpu")


def test_checkpoint_for_a_bigger_config_lists_the_mismatched_keys():
    with pytest.raises(CheckpointError, match=r"tiny-vox.pth.tar: kp_detector does not fit config vox-256 \(other shapes for"):
        fomm_nb.load_model("vox", VOX_CKPT, device="cpu")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: b"", "empty"),
        (lambda data: data[: len(data) // 2], "damaged or truncated"),
        (lambda data: b"this is not a checkpoint" * 10, "damaged"),
    ],
    ids=["zero-byte", "truncated", "garbage"],
)
def test_damaged_files_give_one_line_errors(tmp_path, damage, message):
    path = tmp_path / "broken.pth.tar"
    path.write_bytes(damage(VOX_CKPT.read_bytes()))
    with pytest.raises(CheckpointError, match=message) as caught:
        fomm_nb.load_model(VOX_YAML, path, device="cpu")
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_missing_file_and_missing_parts(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        fomm_nb.load_model(VOX_YAML, tmp_path / "absent.pth.tar")
    torch.save({"epoch": 3}, tmp_path / "other.pth.tar")
    with pytest.raises(CheckpointError, match="not a FOMM checkpoint"):
        fomm_nb.load_model(VOX_YAML, tmp_path / "other.pth.tar")


def test_published_checkpoint_without_config_needs_one(tmp_path):
    shutil.copy(VOX_CKPT, tmp_path / "vox.pth.tar")
    with pytest.raises(ConfigError, match="no config given and none stored"):
        fomm_nb.load_model(checkpoint=tmp_path / "vox.pth.tar")


def test_unknown_config_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown config; known: vox, vox-adv"):
        fomm_nb.load_config("voxx")
    with pytest.raises(ConfigError, match="no such config file"):
        fomm_nb.load_config("missing/cfg.yaml")


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")  # the error path only exists without it
    with pytest.raises(fomm_nb.FommError, match="CUDA is not available"):
        fomm_nb.load_model(VOX_YAML, device="cuda")
