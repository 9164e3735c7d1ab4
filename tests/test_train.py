"""Training: the random warps, the losses, a few real steps, checkpoints that resume."""

import csv

import pytest
import torch

from fomm_nb.config import load_config
from fomm_nb.data import ProceduralFaces
from fomm_nb.model import build_model
from fomm_nb.train import PyramidL1, RandomTPS, Trainer, TrainSettings, equivariance_jacobian_loss, equivariance_value_loss
from fomm_nb.cli import main

TINY = {
    "dataset_params": {"frame_shape": [32, 32, 3]},
    "model_params": {
        "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.5},
        "generator_params": {"block_expansion": 4, "max_features": 16, "num_down_blocks": 1, "num_bottleneck_blocks": 1,
                             "estimate_occlusion_map": True,
                             "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.5}},
    },
    "train_params": {"batch_size": 4, "num_steps": 3, "lr_generator": 1e-3},
}


def test_tps_with_zero_noise_is_the_identity():
    tps = RandomTPS(2, sigma_affine=0.0, sigma_tps=0.0)
    points = torch.rand(2, 7, 2) * 2 - 1
    assert torch.allclose(tps.warp_coordinates(points), points)
    image = torch.rand(2, 3, 16, 16)
    assert torch.allclose(tps.jacobian(points), torch.eye(2).expand(2, 7, 2, 2))
    # The warp's identity grid samples with the published half-pixel convention: close, not exact.
    assert (tps.warp_image(image) - image).abs().mean() < 0.2


def test_tps_jacobian_matches_finite_differences():
    torch.manual_seed(1)
    tps = RandomTPS(1, sigma_affine=0.1, sigma_tps=0.05)
    point = torch.tensor([[[0.3, -0.2]]], dtype=torch.float32)
    step = 1e-3
    columns = []
    for axis in range(2):
        delta = torch.zeros(1, 1, 2)
        delta[..., axis] = step
        columns.append((tps.warp_coordinates(point + delta) - tps.warp_coordinates(point - delta)) / (2 * step))
    numeric = torch.stack(columns, dim=-1)
    assert torch.allclose(tps.jacobian(point), numeric, atol=2e-3)


def test_losses_vanish_at_equality_and_grow_with_difference():
    loss = PyramidL1((1, 0.5))
    image = torch.rand(2, 3, 16, 16)
    assert float(loss(image, image)) == 0.0 and float(loss(image, image.flip(-1))) > 0.01
    tps = RandomTPS(2, sigma_affine=0.0, sigma_tps=0.0)
    kp = {"value": torch.rand(2, 4, 2), "jacobian": torch.eye(2).expand(2, 4, 2, 2).clone()}
    assert float(equivariance_value_loss(kp, kp, tps)) == 0.0
    assert float(equivariance_jacobian_loss(kp, kp, tps).detach()) == pytest.approx(0.0, abs=1e-6)
    shifted = {"value": kp["value"] + 0.1, "jacobian": kp["jacobian"] * 1.5}
    assert float(equivariance_value_loss(kp, shifted, tps)) == pytest.approx(0.1, abs=1e-6)
    assert float(equivariance_jacobian_loss(kp, shifted, tps).detach()) == pytest.approx(0.25, abs=1e-6)


def test_steps_on_a_fixed_batch_reduce_the_loss():
    torch.manual_seed(0)
    model = build_model(load_config(TINY))
    trainer = Trainer(model, TrainSettings(batch_size=4, lr=2e-3, pyramid_scales=(1, 0.5)))
    batch = next(iter(torch.utils.data.DataLoader(ProceduralFaces("train", 4, size=32), batch_size=4)))
    first = trainer.train_step(batch)["reconstruction"]
    for _ in range(15):
        last = trainer.train_step(batch)["reconstruction"]
    assert last < 0.8 * first


def test_train_command_writes_a_resumable_run(tmp_path):
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--threads", "1"]) == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert {"step", "reconstruction", "equivariance_value", "equivariance_jacobian", "total"} <= set(rows[0])
    state = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    assert state["step"] == 3 and {"generator", "kp_detector", "optimizer_generator", "epoch"} <= set(state)
    assert main(["train", "--config", str(config), "--out", str(out), "--steps", "5", "--threads", "1"]) == 0
    assert torch.load(out / "checkpoint.pth.tar", weights_only=True)["step"] == 5
    from fomm_nb import load_model

    assert load_model(checkpoint=out / "model.pth.tar").config.num_kp == 4
