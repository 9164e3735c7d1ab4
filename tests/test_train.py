"""Training: the random warps, the losses, real steps, checkpoints that resume, two-process DDP."""

import copy
import csv
import os
import socket

import numpy as np
import pytest
import torch
import yaml

from fomm_nb.cli import main
from fomm_nb.config import ModelConfig
from fomm_nb.data import ProceduralFaces
from fomm_nb.geometry import make_coordinate_grid
from fomm_nb.model import build_model
from fomm_nb.train import (
    PyramidL1,
    RandomTPS,
    Trainer,
    TrainSettings,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    keypoint_separation_loss,
    reconstruction_loss,
)
from fomm_nb.train.adversarial import discriminator_loss, feature_matching_loss, generator_adversarial_loss
from fomm_nb.train.perceptual import PerceptualPyramid, Vgg19Features, find_vgg19_weights

TINY = {
    "dataset_params": {"frame_shape": [32, 32, 3]},
    "model_params": {
        "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.5},
        "generator_params": {"block_expansion": 4, "max_features": 16, "num_down_blocks": 1, "num_bottleneck_blocks": 1,
                             "estimate_occlusion_map": True,
                             "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.5}},
        "discriminator_params": {"scales": [1], "block_expansion": 4, "max_features": 16, "num_blocks": 2, "sn": True},
    },
    "train_params": {"batch_size": 4, "num_steps": 3, "lr_generator": 1e-3, "scales": [1, 0.5],
                     "loss_weights": {"keypoint_separation": 1}},
}
GAN_WEIGHTS = {"generator_gan": 1, "feature_matching": [10, 10], "discriminator_gan": 1}


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions run fastest on one thread, above all on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**loss_weights):
    document = copy.deepcopy(TINY)
    document["train_params"]["loss_weights"].update(loss_weights)
    return ModelConfig.from_dict(document, "tiny")


def tiny_trainer(seed=0, **loss_weights):
    torch.manual_seed(seed)
    config = tiny_config(**loss_weights)
    settings = TrainSettings.from_config(config)
    settings.vgg19 = None  # the same loss on every machine
    return Trainer(build_model(config, with_discriminator=settings.uses_discriminator), settings)


def random_batch(seed, size=4):
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.rand(size, 3, 32, 32, generator=generator) for name in ("source", "driving")}


# ----------------------------------------------------------------------------- random warps


def test_tps_with_zero_noise_is_the_identity():
    tps = RandomTPS(2, sigma_affine=0.0, sigma_tps=0.0)
    points = torch.rand(2, 7, 2) * 2 - 1
    assert torch.allclose(tps.warp_coordinates(points), points)
    assert torch.allclose(tps.jacobian(points), torch.eye(2).expand(2, 7, 2, 2))
    image = torch.rand(2, 3, 16, 16)
    assert torch.allclose(tps.warp_image(image), image, atol=1e-5)


def test_tps_jacobian_matches_finite_differences():
    torch.manual_seed(1)
    tps = RandomTPS(2, sigma_affine=0.1, sigma_tps=0.05)
    points = torch.rand(2, 5, 2) * 1.6 - 0.8
    step = 1e-3
    columns = []
    for axis in range(2):
        delta = torch.zeros(1, 1, 2)
        delta[..., axis] = step
        columns.append((tps.warp_coordinates(points + delta) - tps.warp_coordinates(points - delta)) / (2 * step))
    assert torch.allclose(tps.jacobian(points), torch.stack(columns, dim=-1), atol=2e-3)


def test_warped_image_content_sits_where_the_warp_sends_it():
    # A blob at p in the warped image shows the input at T(p): the blob drawn at T(p) appears at p.
    torch.manual_seed(3)
    tps = RandomTPS(1, sigma_affine=0.1, sigma_tps=0.01)
    where = torch.tensor([[[0.2, -0.3]]])
    target = tps.warp_coordinates(where)  # (1, 1, 2)
    grid = make_coordinate_grid((64, 64))
    blob = torch.exp(-((grid - target[0, 0]) ** 2).sum(-1) / (2 * 0.05**2))[None, None]
    warped = tps.warp_image(blob)[0, 0]
    centroid = (warped[..., None] * grid).sum((0, 1)) / warped.sum()
    assert torch.allclose(centroid, where[0, 0], atol=0.02)


# ----------------------------------------------------------------------------- losses


def test_losses_vanish_at_equality_and_grow_with_difference():
    loss = PyramidL1((1, 0.5), weight=10)
    image = torch.rand(2, 3, 16, 16)
    assert float(loss(image, image)) == 0.0 and float(loss(image, image.flip(-1))) > 0.1
    tps = RandomTPS(2, sigma_affine=0.0, sigma_tps=0.0)
    kp = {"value": torch.rand(2, 4, 2), "jacobian": torch.eye(2).expand(2, 4, 2, 2).clone()}
    assert float(equivariance_value_loss(kp, kp, tps)) == 0.0
    assert float(equivariance_jacobian_loss(kp, kp, tps).detach()) == pytest.approx(0.0, abs=1e-6)
    shifted = {"value": kp["value"] + 0.1, "jacobian": kp["jacobian"] * 1.5}
    assert float(equivariance_value_loss(kp, shifted, tps)) == pytest.approx(0.1, abs=1e-6)
    # |I - 1.5 I| = 0.5 on the diagonal, 0 off it: mean 0.25.
    assert float(equivariance_jacobian_loss(kp, shifted, tps).detach()) == pytest.approx(0.25, abs=1e-6)


def test_equivariance_losses_vanish_for_keypoints_that_move_with_the_warp():
    torch.manual_seed(2)
    tps = RandomTPS(2, sigma_affine=0.1, sigma_tps=0.01)
    transformed = {"value": torch.rand(2, 4, 2) - 0.5, "jacobian": torch.eye(2).expand(2, 4, 2, 2)}
    original = {"value": tps.warp_coordinates(transformed["value"]), "jacobian": tps.jacobian(transformed["value"])}
    assert float(equivariance_value_loss(original, transformed, tps)) == pytest.approx(0.0, abs=1e-6)
    assert float(equivariance_jacobian_loss(original, transformed, tps).detach()) == pytest.approx(0.0, abs=1e-5)


def test_keypoint_separation_is_one_when_collapsed_and_falls_with_distance():
    collapsed = {"value": torch.zeros(1, 3, 2)}
    apart = {"value": torch.tensor([[[-0.5, 0.0], [0.0, 0.0], [0.5, 0.0]]])}
    assert float(keypoint_separation_loss(collapsed)) == pytest.approx(1.0)
    assert float(keypoint_separation_loss(apart, sigma=0.1)) < 1e-3


def test_adversarial_losses():
    ones, zeros = {"prediction_map_1": torch.ones(2, 1, 4, 4)}, {"prediction_map_1": torch.zeros(2, 1, 4, 4)}
    assert float(discriminator_loss(ones, zeros)) == 0.0 and float(discriminator_loss(zeros, ones)) == 2.0
    assert float(generator_adversarial_loss(ones)) == 0.0 and float(generator_adversarial_loss(zeros)) == 1.0
    features = {"feature_maps_1": [torch.ones(1, 2, 3, 3), torch.ones(1, 2, 2, 2)]}
    other = {"feature_maps_1": [torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 2, 2)]}
    assert float(feature_matching_loss(features, features, (10, 10))) == 0.0
    assert float(feature_matching_loss(features, other, (10, 10))) == 10.0


def test_reconstruction_falls_back_without_vgg_weights_and_perceptual_is_pluggable(tmp_path, monkeypatch):
    monkeypatch.setenv("FOMM_NB_VGG19", str(tmp_path / "missing.pth"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert find_vgg19_weights() is None
    assert reconstruction_loss((1, 0.5))[1] == "pyramid_l1"
    (tmp_path / "vgg.pth").touch()
    monkeypatch.setenv("FOMM_NB_VGG19", str(tmp_path / "vgg.pth"))
    assert find_vgg19_weights() == tmp_path / "vgg.pth"
    torch.manual_seed(0)
    perceptual = PerceptualPyramid(Vgg19Features(None), scales=(1, 0.5))
    image = torch.rand(1, 3, 32, 32)
    assert float(perceptual(image, image)) == 0.0 and float(perceptual(image, image.flip(-1))) > 0.0


# ----------------------------------------------------------------------------- the trainer


def test_steps_on_a_fixed_batch_reduce_the_loss():
    trainer = tiny_trainer()
    batch = next(iter(torch.utils.data.DataLoader(ProceduralFaces("train", 4, size=32), batch_size=4)))
    first = trainer.train_step(batch)["reconstruction"]
    for _ in range(15):
        last = trainer.train_step(batch)["reconstruction"]
    assert last < 0.8 * first


def test_adversarial_step_trains_the_discriminator():
    trainer = tiny_trainer(**GAN_WEIGHTS)
    before = copy.deepcopy(trainer.model.discriminator.state_dict())
    losses = trainer.train_step(random_batch(0))
    assert {"generator_gan", "feature_matching", "discriminator_gan"} <= set(losses)
    after = trainer.model.discriminator.state_dict()
    assert any(not torch.equal(before[name], after[name]) for name in before)
    assert {"discriminator", "optimizer_discriminator"} <= set(trainer.state_dict())


def test_checkpoint_round_trip_resumes_the_same_run(tmp_path):
    trainer = tiny_trainer(**GAN_WEIGHTS)
    for seed in range(2):
        trainer.train_step(random_batch(seed))
    trainer.save(tmp_path / "checkpoint.pth.tar")
    resumed = tiny_trainer(seed=5, **GAN_WEIGHTS)
    resumed.resume(tmp_path / "checkpoint.pth.tar")
    assert resumed.step == 2
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    torch.manual_seed(9)
    expected = trainer.train_step(random_batch(7))
    torch.manual_seed(9)
    assert resumed.train_step(random_batch(7)) == pytest.approx(expected, rel=1e-5)


def test_learning_rates_drop_at_the_milestones():
    trainer = tiny_trainer()
    trainer.settings.lr_milestones = [2]
    for seed in range(2):
        trainer.train_step(random_batch(seed))
    assert trainer.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-4)


def test_keypoint_sheet_draws_one_panel_per_video_frame():
    from fomm_nb.train.visualise import keypoint_sheet

    figure = keypoint_sheet(build_model(tiny_config()), num_videos=2, frame_indices=(0, 3, 5))
    assert len(figure.axes) == 6
    assert all(len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 4 for ax in figure.axes)


# ----------------------------------------------------------------------------- the command


def test_train_command_writes_a_resumable_run(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    arguments = ["train", "--config", str(config), "--out", str(out), "--threads", "1", "--log-every", "1",
                 "--visualise-every", "3"]
    assert main(arguments) == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [row["step"] for row in rows] == ["1", "2", "3"]
    assert {"reconstruction", "equivariance_value", "equivariance_jacobian", "keypoint_separation", "val_l1",
            "val_l1_still", "kp_spread"} <= set(rows[0])
    assert (out / "vis" / "step-000003.png").stat().st_size > 1000
    state = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    assert state["step"] == 3 and {"generator", "kp_detector", "optimizer_generator", "optimizer_kp_detector", "epoch"} <= set(state)
    assert main(arguments + ["--steps", "5"]) == 2  # refuses to overwrite without --resume
    with (out / "log.csv").open("a") as log:  # a row logged after the last checkpoint, before a crash
        log.write("4" + ",0" * (len(rows[0]) - 1) + "\n")
    assert main(arguments + ["--steps", "5", "--resume"]) == 0
    assert torch.load(out / "checkpoint.pth.tar", weights_only=True)["step"] == 5
    assert [row["step"] for row in csv.DictReader((out / "log.csv").open())] == ["1", "2", "3", "4", "5"]
    from fomm_nb import load_model

    assert load_model(checkpoint=out / "model.pth.tar").config.num_kp == 4

    # Fine-tuning starts from the weights with fresh optimisers and a new step count.
    tuned = tmp_path / "tuned"
    assert main(["train", "--config", str(config), "--out", str(tuned), "--steps", "1", "--threads", "1",
                 "--finetune", str(out / "model.pth.tar")]) == 0
    assert torch.load(tuned / "checkpoint.pth.tar", weights_only=True)["step"] == 1


def test_train_command_on_a_video_folder(tmp_path):
    from fomm_nb.media import write_video

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (tmp_path / "videos" / split).mkdir(parents=True)
    for name in ("a#1.mp4", "a#2.gif", "b#1.mp4"):
        write_video(tmp_path / "videos" / "train" / name, rng.random((3, 32, 32, 3)), fps=10)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--data", str(tmp_path / "videos"), "--id-sampling", "--out", str(out),
                 "--steps", "1", "--batch-size", "2", "--threads", "1", "--log-every", "1"]) == 0
    row = next(csv.DictReader((out / "log.csv").open()))
    assert row["step"] == "1" and "val_l1" not in row  # no held-out monitor without ground truth


# ----------------------------------------------------------------------------- two processes


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _two_process_worker(rank, port, results):
    """Under a 2-process gloo group: 3 DDP training steps on different data, and one synchronised batch norm."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from fomm_nb.train.distributed import convert_sync_batchnorm, init_distributed

    device = init_distributed()
    try:
        trainer = Trainer(build_model(tiny_config()), TrainSettings.from_config(tiny_config()), device)
        for step in range(3):
            trainer.train_step(random_batch(seed=10 * rank + step, size=2))  # different data on each rank
        flat = torch.cat([value.float().flatten() for value in trainer.model.state_dict().values()])
        gathered = [torch.empty_like(flat) for _ in range(2)]
        torch.distributed.all_gather(gathered, flat)

        torch.manual_seed(0)
        everything = torch.randn(6, 3, 4, 4)
        norm = convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3)), device).train()
        part = everything[3 * rank : 3 * rank + 3].clone().requires_grad_(True)
        out = norm(part)
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
        torch.save(
            {"gathered": gathered, "step": trainer.step, "out": out.detach(), "grad": part.grad,
             "running_var": norm[0].running_var},
            results / f"rank{rank}.pt",
        )
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """What each of two spawned gloo processes saw (one spawn serves the tests below)."""
    results = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_two_process_worker, args=(_free_port(), results), nprocs=2)
    return [torch.load(results / f"rank{rank}.pt") for rank in range(2)]


def test_two_process_ddp_replicas_stay_equal(two_processes):
    first, second = two_processes[0]["gathered"]
    assert two_processes[0]["step"] == 3
    assert torch.equal(first, second)
    # And training moved them: a fresh model differs.
    torch.manual_seed(0)
    fresh = torch.cat([value.float().flatten() for value in build_model(tiny_config()).state_dict().values()])
    assert not torch.allclose(first, fresh)


def test_cpu_sync_batchnorm_matches_one_batch_norm_over_all_processes(two_processes):
    torch.manual_seed(0)
    everything = torch.randn(6, 3, 4, 4).requires_grad_(True)
    norm = torch.nn.BatchNorm2d(3).train()
    out = norm(everything)
    weights = torch.cat([torch.arange(out.numel() // 2).view(3, 3, 4, 4)] * 2)
    (out * weights).sum().backward()
    assert torch.allclose(torch.cat([part["out"] for part in two_processes]), out.detach(), atol=1e-5)
    assert torch.allclose(torch.cat([part["grad"] for part in two_processes]), everything.grad, atol=1e-4)
    assert torch.allclose(two_processes[0]["running_var"], norm.running_var, atol=1e-5)


def test_monitor_pairs_are_taken_as_the_evaluation_takes_them():
    from fomm_nb.data import make_video
    from fomm_nb.data.procedural import split_seed
    from fomm_nb.train.command import _monitor_batch

    batch = _monitor_batch("procedural", 64, count=3, frames=32)
    assert batch["source"].shape == batch["driving"].shape == (3, 3, 64, 64)
    for index in range(3):
        video = make_video(split_seed("test", index), num_frames=32).frames
        assert np.allclose(batch["source"][index].permute(1, 2, 0).numpy(), video[0])
        assert np.allclose(batch["driving"][index].permute(1, 2, 0).numpy(), video[1 + index])
    assert _monitor_batch("some/folder", 64) is None
