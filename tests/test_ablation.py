"""The ablation's variants (checkpoints/ablation): each lacks what its config flag removes, and results.json is
what ``fomm-nb evaluate`` gives."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fomm_nb.ablation import LONG_CHECK, ordering_check, ruler_shares, weights_digest
from fomm_nb.config import load_config
from fomm_nb.evaluate import evaluate
from fomm_nb.hub import get_model
from fomm_nb.model import build_model
from fomm_nb.train.losses import reconstruction_loss
from fomm_nb.train.trainer import TrainSettings

HERE = Path(__file__).resolve().parents[1] / "checkpoints" / "ablation"
VARIANTS = ("full", "zero-order", "no-occlusion", "no-jacobian-equivariance", "no-pyramid")
SEEDS = (1, 2)


@pytest.fixture(scope="module")
def results():
    return json.loads((HERE / "results.json").read_text())


def built(variant):
    return build_model(load_config(HERE / f"{variant}.yaml"))


def flat(document, prefix=""):
    """``{"a.b.c": value}`` of a nested dict."""
    if not isinstance(document, dict):
        return {prefix: document}
    return {k: v for key, value in document.items() for k, v in flat(value, f"{prefix}.{key}" if prefix else key).items()}


def test_the_variants_differ_from_full_in_their_one_flag_only():
    """Same schedule, same data, same everything but the flag (and the config's name)."""
    full = flat(load_config(HERE / "full.yaml").to_dict())
    changed = {"zero-order": {"model_params.common_params.estimate_jacobian": False},
               "no-occlusion": {"model_params.generator_params.estimate_occlusion_map": False},
               "no-jacobian-equivariance": {"train_params.loss_weights.equivariance_jacobian": 0},
               "no-pyramid": {"train_params.scales": [1]}}
    for variant, flags in changed.items():
        config = flat(load_config(HERE / f"{variant}.yaml").to_dict())
        assert {key: value for key, value in config.items() if full.get(key) != value} == flags
    assert full["train_params.num_steps"] == 2000


def test_zero_order_has_no_jacobian_head_and_its_keypoints_no_jacobians():
    model = built("zero-order").eval()
    assert model.kp_detector.jacobian is None and built("full").kp_detector.jacobian is not None
    kp = model.kp_detector(torch.rand(1, 3, 64, 64))
    assert "jacobian" not in kp


def test_no_occlusion_has_no_occlusion_channel():
    model = built("no-occlusion").eval()
    assert model.generator.dense_motion_network.occlusion is None
    assert built("full").generator.dense_motion_network.occlusion is not None


def test_no_jacobian_equivariance_keeps_the_jacobians_and_drops_only_their_equivariance_loss():
    settings = TrainSettings.from_config(load_config(HERE / "no-jacobian-equivariance.yaml"))
    full = TrainSettings.from_config(load_config(HERE / "full.yaml"))
    assert settings.equivariance_jacobian == 0 and full.equivariance_jacobian > 0
    assert settings.equivariance_value == full.equivariance_value > 0
    assert built("no-jacobian-equivariance").kp_detector.jacobian is not None


def test_no_pyramid_compares_images_at_one_scale_only_and_keeps_the_architecture():
    """Its reconstruction loss sees the full-size images only; full's sees 1, 1/2, 1/4 and 1/8. Same networks."""
    single = TrainSettings.from_config(load_config(HERE / "no-pyramid.yaml"))
    full = TrainSettings.from_config(load_config(HERE / "full.yaml"))
    assert single.pyramid_scales == (1,) and full.pyramid_scales == (1, 0.5, 0.25, 0.125)
    loss, _ = reconstruction_loss(single.pyramid_scales, single.reconstruction_weight, vgg19_weights=None)
    assert loss.pyramid.scales == (1,) and len(loss.pyramid.downs) == 0
    prediction, target = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    full_loss, _ = reconstruction_loss(full.pyramid_scales, full.reconstruction_weight, vgg19_weights=None)
    assert float(loss(prediction, target)) != pytest.approx(float(full_loss(prediction, target)))
    assert built("no-pyramid").state_dict().keys() == built("full").state_dict().keys()


def test_the_longer_check_configs_differ_from_their_variants_in_the_schedule_only():
    """Three times the steps, the learning-rate drops at the same fractions; nothing else."""
    for variant in LONG_CHECK["variants"]:
        short = flat(load_config(HERE / f"{variant}.yaml").to_dict())
        longer = flat(load_config(HERE / "long" / f"{variant}.yaml").to_dict())
        differ = {key for key in short.keys() | longer.keys() if short.get(key) != longer.get(key)}
        assert differ == {"train_params.num_steps", "train_params.step_milestones"}
        assert longer["train_params.num_steps"] == LONG_CHECK["steps"] == 3 * short["train_params.num_steps"]
        assert longer["train_params.step_milestones"] == [3 * step for step in short["train_params.step_milestones"]]


def test_the_longer_check_is_the_variants_weights_and_its_ordering_is_what_its_numbers_say(results):
    check = results["long_check"]
    for variant in check["variants"]:
        model = built(variant)
        state = torch.load(HERE / "long" / f"{variant}-seed{check['seed']}.pth.tar", map_location="cpu", weights_only=True)
        assert set(state["kp_detector"]) == set(model.kp_detector.state_dict())
        assert state["config"]["train_params"]["num_steps"] == check["steps"]
    assert check["ordering"] == ordering_check(results["runs"], results["variants"], check["runs"])
    for run in check["runs"].values():
        assert run["metrics"]["num_videos"] == 50 and run["metrics"]["num_frames"] == 32


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_shipped_weights_are_the_variant_they_are_named_after(variant):
    """Each checkpoint's state dict has exactly the keys its variant's config builds."""
    model = built(variant)
    for seed in SEEDS:
        state = torch.load(HERE / f"{variant}-seed{seed}.pth.tar", map_location="cpu", weights_only=True)
        assert set(state["kp_detector"]) == set(model.kp_detector.state_dict())
        assert set(state["generator"]) == set(model.generator.state_dict())


def test_a_small_evaluation_reproduces_the_small_run_of_results_json(results):
    small = results["small_run"]
    with torch.inference_mode():
        report = evaluate(get_model(HERE.parents[1] / small["checkpoint"]), num_videos=small["videos"],
                          num_frames=small["frames"])
    assert report.keys() == small["metrics"].keys()
    for key, value in small["metrics"].items():
        assert report[key] == pytest.approx(value, rel=1e-4), key


def test_each_variant_summary_is_the_mean_and_spread_of_its_runs(results):
    for variant, entry in results["variants"].items():
        runs = [results["runs"][f"{variant}-seed{seed}"] for seed in entry["seeds"]]
        for name, mean in entry["mean"].items():
            values = [run["figures"][name] for run in runs]
            assert mean == pytest.approx(np.mean(values)) and entry["spread"][name] == pytest.approx(np.ptp(values))
        run = runs[0]
        assert run["figures"]["L1 / no motion"] == pytest.approx(
            run["metrics"]["reconstruction_l1/model"] / run["metrics"]["reconstruction_l1/no_motion"])
        assert run["figures"]["AKD (px)"] == run["metrics"]["akd/model"]
        assert run["metrics"]["num_videos"] == 50 and run["metrics"]["num_frames"] == 32


def test_every_run_records_its_command_wall_time_log_and_the_weights_it_made(results):
    """The issue asks for each run's wall time and log; the shipped weights must be what that logged run wrote."""
    runs = {**results["runs"], **{f"long/{name}": run for name, run in results["long_check"]["runs"].items()}}
    assert len(runs) == len(VARIANTS) * len(SEEDS) + len(LONG_CHECK["variants"])
    for name, run in runs.items():
        assert run["train_command"].startswith("fomm-nb train --config checkpoints/ablation/"), name
        assert f"--seed {run['seed']} " in run["train_command"] and run["wall_time_s"] > 0, name
        config = HERE.parents[1] / run["train_command"].split("--config ")[1].split()[0]
        steps = load_config(config).train_params["num_steps"]
        last_step = (HERE.parents[1] / run["log"]).read_text().strip().splitlines()[-1].split(",")[0]
        assert int(last_step) == steps, name
        assert run["weights_sha256"] == weights_digest(HERE.parents[1] / run["checkpoint"]), name


def test_the_detectors_share_of_each_akd_difference_is_small_and_moves_no_pair_across_the_seed_spread(results):
    """AKD includes the detector's error, larger on blurrier frames: the part of it that differs between two variants
    (diagnostics.json, ``scripts/ablation.py diagnose``) must stay a small part of every difference the study reads."""
    diagnostics = json.loads((HERE / "diagnostics.json").read_text())
    shares = ruler_shares(results["comparisons"]["AKD (px)"], diagnostics["runs"])
    assert [row["pair"] for row in shares] == [row["pair"] for row in diagnostics["ruler_shares"]]
    for found, stored in zip(shares, diagnostics["ruler_shares"]):
        assert found == pytest.approx(stored), found["pair"]
    assert len(shares) == 10
    for row in shares:
        assert abs(row["share"]) < 0.02, row["pair"]
        if row["separated"]:
            assert abs(row["share"]) < 0.1 * abs(row["difference"]) and row["separated_without_share"], row["pair"]
