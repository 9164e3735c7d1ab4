"""Every bad input is one line with exit status 2 (command) and a FommError (API), never a traceback.

Families: checkpoints, configs, numeric arguments of every subcommand,
devices, the environment (FOMM_NB_HOME), and what a handled error prints
(no third-party warnings, the progress bar closed first). Most run
in-process through ``fomm_nb.cli.main``; a few through the console script.
"""

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fomm_nb import cli
from fomm_nb.animate import AnimationEngine
from fomm_nb.checkpoints import load_model, resolve_device
from fomm_nb.config import load_config
from fomm_nb.errors import CheckpointError, ConfigError, InputError, MediaError
from fomm_nb.evaluate import evaluate
from fomm_nb.export import export_onnx
from fomm_nb.hub import get_model
from fomm_nb.pipeline import animate_files

from conftest import OFFICIAL, files_below

BUNDLED = Path(__file__).parents[1] / "checkpoints" / "fomm-nb-faces.pth.tar"
FOMM_NB = Path(sys.executable).with_name("fomm-nb")


def refused(argv, capsys):
    """Run ``fomm-nb argv`` in-process; assert exit 2 and one line without a traceback; return the line."""
    status = cli.main([str(part) for part in argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("fomm-nb: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def animate(media, *options):
    return ["animate", "--source", media / "face.png", "--driving", media / "talk.mp4", "--out", media / "r.mp4",
            *options]


def assert_nothing_written(media, before):
    assert files_below(media) == before and not (media / "r.mp4").exists()


# Checkpoints


def _first(part):
    return next(iter(part))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: s["generator"].__setitem__(_first(s["generator"]), [1.0, 2.0]), "generator.{g} is a list, not a tensor"),
        (lambda s: s["kp_detector"].__setitem__(3, torch.zeros(1)), "kp_detector has a key 3 that is not a parameter name"),
        (lambda s: s.__setitem__("config", "vox-256"), "its config entry is a str, not a mapping"),
        (lambda s: s["generator"][_first(s["generator"])].view(-1).__setitem__(0, math.nan), "generator.{g} holds NaN"),
        (lambda s: s["kp_detector"][_first(s["kp_detector"])].view(-1).__setitem__(0, math.inf), "kp_detector.{k} holds NaN or infinite"),
        (lambda s: s["config"]["model_params"]["common_params"].__setitem__("num_kp", "ten"),
         "common_params.num_kp must be a whole number >= 1, got 'ten'"),
    ],
    ids=["not-a-tensor", "non-string-key", "config-not-a-mapping", "nan", "inf", "config-field"],
)
def test_a_damaged_checkpoint_is_one_line_naming_the_tensor(media, capsys, damage, message):
    state = torch.load(BUNDLED, weights_only=True)
    names = {"g": _first(state["generator"]), "k": _first(state["kp_detector"])}
    damage(state)
    path = media / "damaged.pth.tar"
    torch.save(state, path)
    before = files_below(media)
    expected = message.format(**names)
    assert expected in refused(animate(media, "--model", path), capsys)
    assert_nothing_written(media, before)
    with pytest.raises((CheckpointError, ConfigError), match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_model(checkpoint=path)


# Configs


def config_with(change):
    document = yaml.safe_load((OFFICIAL / "tiny-mgif.yaml").read_text())
    change(document)
    return document


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["model_params"]["common_params"].update(num_kp=-1), "common_params.num_kp must be a whole number >= 1, got -1"),
        (lambda d: d.update(dataset_params={"frame_shape": "abc"}), "dataset_params.frame_shape must be a list like [256, 256, 3], got 'abc'"),
        (lambda d: d["model_params"].update(common_params=None), "common_params must be a mapping (name: value lines), got None"),
        (lambda d: d["model_params"].update(kp_detector_params=[1, 2]), "kp_detector_params must be a mapping"),
        (lambda d: d.update(dataset_params=[256, 256]), "dataset_params must be a mapping"),
        (lambda d: d["model_params"]["kp_detector_params"].update(temperature=0), "kp_detector_params.temperature must be a number > 0, got 0"),
        (lambda d: d["model_params"]["kp_detector_params"].update(scale_factor=2), "kp_detector_params.scale_factor must be a number in (0, 1], got 2"),
        (lambda d: d["model_params"]["generator_params"].update(estimate_occlusion_map="yes"), "generator_params.estimate_occlusion_map must be true or false"),
        (lambda d: d["model_params"]["generator_params"].update(num_down_blocks=9), "generator_params.num_down_blocks: 9 halvings of 256x256"),
        (lambda d: d["model_params"]["kp_detector_params"].update(block_expension=4), "kp_detector_params has unknown fields block_expension"),
        (lambda d: d["model_params"]["generator_params"].pop("max_features"), "generator_params lacks max_features"),
        (lambda d: d.update(dataset_params={"frame_shape": [256, 128, 3]}), "dataset_params.frame_shape must be square"),
        (lambda d: d.update(train_params={"batch_size": 0}), "train_params.batch_size must be a whole number >= 1, got 0"),
        (lambda d: d.update(train_params={"loss_weights": {"perceptual": [10, -1]}}),
         "train_params.loss_weights.perceptual must be a number or a list of numbers >= 0, got [10, -1]"),
        (lambda d: d.update(train_params={"lr_generator": "fast"}), "train_params.lr_generator must be a number"),
    ],
    ids=["num_kp", "frame_shape", "null-section", "list-section", "list-dataset", "temperature", "scale_factor",
         "flag", "too-deep", "unknown-field", "missing-field", "not-square", "train-batch", "loss-weight", "learning-rate"],
)
def test_a_bad_config_field_is_one_line_naming_it(media, capsys, change, message):
    path = media / "bad.yaml"
    path.write_text(yaml.safe_dump(config_with(change)))
    before = files_below(media)
    line = refused(animate(media, "--model", OFFICIAL / "tiny-mgif.pth.tar", "--config", path), capsys)
    assert f"bad: {message}" in line
    assert_nothing_written(media, before)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


# Numeric arguments of every subcommand, and devices


NO_GPU = not torch.cuda.is_available()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--batch-size", "-3"], "argument --batch-size: must be at least 1, got -3"),
        (["--batch-size", "many"], "argument --batch-size: must be a whole number, got 'many'"),
        (["--batch-size", "100000000"], "batch size 100000000 needs about"),
        (["--device", "nonsense"], "device 'nonsense': not a device name"),
        (["--device", ""], "device '': not a device name"),
        (["--device", "meta"], "device 'meta': fomm-nb computes on cpu, cuda or mps, not meta"),
        pytest.param(["--device", "cuda"], "device cuda: CUDA is not available", marks=pytest.mark.skipif(not NO_GPU, reason="a GPU")),
        (["--device", "cuda:99"], "device cuda:99: "),
        (["--mode", "sideways"], "argument --mode: invalid choice: 'sideways'"),
    ],
)
def test_animate_arguments(media, capsys, argv, message):
    before = files_below(media)
    line = refused(animate(media, "--model", "demo", *argv), capsys)
    assert message in line
    assert_nothing_written(media, before)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--videos", "0"], "argument --videos: must be at least 1, got 0"),
        (["evaluate", "--frames", "1"], "argument --frames: must be at least 2, got 1"),
        (["evaluate", "--device", "meta"], "not meta"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--steps", "-5"], "argument --steps: must be at least 1, got -5"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--log-every", "0"], "argument --log-every: must be at least 1, got 0"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--threads", "-1"], "argument --threads: must be from 1 to 1024, got -1"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--steps", "1", "--batch-size", "100000000"],
         "batch size 100000000 needs about"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--checkpoint-every", "0"], "argument --checkpoint-every"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--visualise-every", "-1"], "argument --visualise-every"),
        (["train", "--config", "vox", "--out", "{tmp}/run", "--seed", "-1"], "argument --seed: must be from 0 to"),
        (["train", "--config", "{tmp}/missing.yaml", "--out", "{tmp}/run", "--steps", "1"], "missing.yaml: no such config file"),
        (["export", "--out", "{tmp}/onnx", "--image-size", "-64"], "argument --image-size: must be at least 1, got -64"),
        (["export", "--out", "{tmp}/onnx", "--image-size", "100"], "faces-13k: kp_detector_params.num_blocks: 3 halvings of 50x50"),
        (["export", "--out", "{tmp}/onnx", "--opset", "999"], "argument --opset: must be from 1 to 20, got 999"),
        (["export", "--out", "{tmp}/onnx", "--opset", "15"], "opset 15 has no GridSample"),
        (["demo", "--out", "{tmp}/demo", "--device", ""], "device '': not a device name"),
        (["serve", "--port", "0"], "argument --port: must be from 1 to 65535, got 0"),
        (["serve", "--students", "0"], "argument --students: must be at least 1, got 0"),
        (["serve", "--page-timeout", "-5"], "argument --page-timeout: must be at least 1, got -5"),
        (["track", "--driving", "{tmp}/x.mp4", "--out", "{tmp}/t.npz", "--batch-size", "0"], "argument --batch-size"),
        (["track", "--driving", "{tmp}/x.mp4", "--out", "{tmp}/t.mp4"], "--out {tmp}/t.mp4: cannot write '.mp4' files; use .npz"),
        (["models", "--verbose"], "unrecognized arguments: --verbose"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_other_subcommands_arguments(tmp_path, capsys, argv, message):
    line = refused([part.format(tmp=tmp_path) for part in argv], capsys)
    assert message.format(tmp=tmp_path) in line
    assert list(tmp_path.iterdir()) == []


def test_track_refuses_a_batch_beyond_memory_before_reading_the_video(media, capsys):
    line = refused(["track", "--driving", media / "talk.mp4", "--out", media / "t.npz", "--batch-size", "100000000"], capsys)
    assert "batch size 100000000 needs about" in line and "use a batch size of" in line
    assert sorted(path.name for path in media.iterdir()) == ["face.png", "talk.mp4"]


def test_the_api_checks_the_same_ranges(media):
    model = get_model("demo", device="cpu")
    with pytest.raises(InputError, match="batch size must be at least 1, got 0"):
        animate_files(model, media / "face.png", media / "talk.mp4", media / "r.mp4", batch_size=0)
    with pytest.raises(InputError, match="batch size 100000000 needs about .* use a batch size of"):
        animate_files(model, media / "face.png", media / "talk.mp4", media / "r.mp4", batch_size=10**8)
    with pytest.raises(InputError, match="num_videos must be at least 1, got 0"):
        evaluate(model, num_videos=0)
    with pytest.raises(InputError, match="num_frames must be at least 2, got 1"):
        evaluate(model, num_frames=1)
    with pytest.raises(ConfigError, match="the image size must be a whole number >= 1, got -64"):
        export_onnx(model, media / "onnx", image_size=-64)
    with pytest.raises(InputError, match="exporter writes opsets up to 20"):
        export_onnx(model, media / "onnx", opset=999)
    for device in ("nonsense", "", "meta", "cuda:99"):
        with pytest.raises(InputError, match="device"):
            resolve_device(device)
    assert sorted(path.name for path in media.iterdir()) == ["face.png", "talk.mp4"]


# The environment


def test_fomm_nb_home_that_is_a_file(tmp_path, capsys, monkeypatch, media):
    home = tmp_path / "home.txt"
    home.write_text("a file")
    monkeypatch.setenv("FOMM_NB_HOME", str(home))
    assert refused(["models"], capsys) == f"fomm-nb: error: FOMM_NB_HOME={home}: is a file, not a folder; " \
                                          "set FOMM_NB_HOME to a folder for downloaded checkpoints, or unset it"
    assert "is a file, not a folder" in refused(animate(media, "--model", "vox"), capsys)
    assert home.read_text() == "a file"


def test_fomm_nb_home_that_cannot_be_written(tmp_path, capsys, monkeypatch, media):
    from fomm_nb.outputs import writable

    if writable("/sys"):
        pytest.skip("no folder here that cannot be written")
    monkeypatch.setenv("FOMM_NB_HOME", "/sys")
    line = refused(animate(media, "--model", "vox"), capsys)
    assert "FOMM_NB_HOME=/sys: the folder is not writable" in line and "put it in" not in line


# What a handled error prints


def test_warnings_of_a_run_that_fails_add_no_lines(capsys):
    def warns_then_fails(args):
        np.mean(np.array([]))  # numpy: "Mean of empty slice" (a RuntimeWarning)
        raise InputError("photo.png: not a photo")

    def warns_then_succeeds(args):
        warnings.warn("a deprecation ahead", UserWarning)

    assert cli._run(warns_then_fails, None) == 2
    assert capsys.readouterr().err == "fomm-nb: error: photo.png: not a photo\n"
    with pytest.warns(UserWarning, match="a deprecation ahead"):  # a run that succeeds still shows its warnings
        assert cli._run(warns_then_succeeds, None) == 0


def test_an_error_after_the_progress_bar_started_is_on_its_own_line(media, capsys, monkeypatch):
    stream = AnimationEngine.stream

    def fails_at_frame_3(self, frames):
        for index, frame in enumerate(stream(self, frames)):
            if index == 2:
                raise MediaError(f"{media / 'talk.mp4'}: damaged at frame 3")
            yield frame

    monkeypatch.setattr(AnimationEngine, "stream", fails_at_frame_3)
    before = files_below(media)
    assert cli.main([str(part) for part in animate(media, "--model", "demo", "--device", "cpu")]) == 2
    err = capsys.readouterr().err
    assert "animating" in err, "the bar had started"
    assert err.endswith(f"\nfomm-nb: error: {media / 'talk.mp4'}: damaged at frame 3\n"), repr(err[-300:])
    assert_nothing_written(media, before)


# A handful through the console script


@pytest.mark.parametrize("argv", [
    ["evaluate", "--videos", "0"],
    ["export", "--opset", "999"],
    ["animate", "--source", "x.png", "--driving", "x.mp4", "--device", "meta"],
])
def test_the_console_script_prints_one_line_and_exits_2(argv, tmp_path):
    completed = subprocess.run([str(FOMM_NB), *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("fomm-nb: error: ")
    assert "Traceback" not in completed.stderr and list(tmp_path.iterdir()) == []
