"""``fomm-nb train``: train a model on procedural faces or a folder of videos.

    fomm-nb train --config checkpoints/fomm-nb-faces.yaml --data procedural --out runs/faces
    fomm-nb train ... --resume                      # continue OUT/checkpoint.pth.tar
    fomm-nb train --config vox --data DIR --out runs/vox --finetune vox-cpk.pth.tar
    torchrun --nproc_per_node 2 -m fomm_nb.cli train ...   # data parallel (gloo on CPU)

A run folder holds ``log.csv``, ``checkpoint.pth.tar`` (published layout,
resumable), ``model.pth.tar`` (inference checkpoint) and ``vis/``.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from ..arguments import TRAINING_BYTES_PER_PIXEL, check_batch_memory, int_option
from ..config import load_config
from ..errors import InputError
from ..outputs import Output, check_outputs
from .distributed import init_distributed, is_main_process
from .trainer import Trainer, TrainSettings

__all__ = ["add_arguments", "run", "RUN_FILES"]

#: What a run folder receives.
RUN_FILES = ("log.csv", "checkpoint.pth.tar", "model.pth.tar", "vis")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fomm-nb train``."""
    parser.add_argument("--config", required=True, help="config name or YAML file (published layout)")
    parser.add_argument("--data", default="procedural", help="'procedural' or a folder with train/ and test/")
    parser.add_argument("--id-sampling", action="store_true", help="video folders: one video per identity ('ID#clip' names) per epoch")
    parser.add_argument("--out", required=True, help="run folder: log.csv, checkpoint.pth.tar, model.pth.tar, vis/")
    parser.add_argument("--steps", type=int_option(1), help="total steps (default: the config's train_params.num_steps)")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUT from its checkpoint")
    parser.add_argument("--batch-size", type=int_option(1), help="override the config's batch size (per process)")
    parser.add_argument("--finetune", help="start from this checkpoint's weights (fresh optimisers)")
    parser.add_argument("--threads", type=int_option(1, 1024), help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--seed", type=int_option(0, 2**32 - 1), help="seed torch's random generator (initial weights, pairs, warps): a repeatable run")
    parser.add_argument("--log-every", type=int_option(1), default=10, help="steps between rows of log.csv")
    parser.add_argument("--checkpoint-every", type=int_option(1), default=200, help="steps between checkpoints")
    parser.add_argument("--visualise-every", type=int_option(1), default=200, help="steps between pictures in OUT/vis")


def _dataset(data, size, id_sampling):
    if data == "procedural":
        from ..data import ProceduralFaces

        return ProceduralFaces("train", size=size)
    from ..data.video_folder import VideoFolder

    return VideoFolder(data, split="train", size=size, id_sampling=id_sampling)


def _monitor_batch(data, size, count=64, frames=32):
    """A fixed held-out batch for the log's L1 and keypoint-spread columns (procedural data only).

    Pairs are taken as ``fomm-nb evaluate`` takes them: frame 0 of test video
    ``i`` is the source, a later frame of it (1 to ``frames - 1``, in turn) the
    driving frame, so ``val_l1 / val_l1_still`` follows the evaluation's
    reconstruction ratio while training runs.
    """
    if data != "procedural":
        return None
    from ..data.procedural import render, split_seed, video_parameters

    sources, drivings = [], []
    for index in range(count):
        identity, poses = video_parameters(split_seed("test", index), frames)
        sources.append(render(identity, poses[0], size))
        drivings.append(render(identity, poses[1 + index % (frames - 1)], size))
    as_batch = lambda images: torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)  # (count, 3, H, W)
    return {"source": as_batch(sources), "driving": as_batch(drivings)}


def _model(config, finetune, with_discriminator):
    if finetune:
        from ..checkpoints import load_model

        return load_model(config, finetune, device="cpu", with_discriminator=with_discriminator)
    from ..model import build_model

    return build_model(config, with_discriminator=with_discriminator)


def run(args: argparse.Namespace) -> None:
    """``fomm-nb train``: train (or resume) a run in ``args.out``, once every path is checked."""
    data = None if args.data == "procedural" else args.data
    check_outputs([Output("--out", args.out, files=RUN_FILES)],
                  {"--config": args.config, "--data": data, "--finetune": args.finetune})
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    config = load_config(args.config)
    settings = TrainSettings.from_config(config)
    if args.batch_size:
        settings.batch_size = args.batch_size
    steps = args.steps or config.train_params.get("num_steps")
    if not steps:
        raise InputError(f"{args.config}: give --steps (the config has no train_params.num_steps)")
    checkpoint = Path(args.out) / "checkpoint.pth.tar"
    if checkpoint.exists() and not args.resume:
        raise InputError(f"{checkpoint} exists: pass --resume to continue that run, or choose another --out")
    if args.resume and not checkpoint.exists():
        raise InputError(f"--resume: {checkpoint} does not exist; leave out --resume to start a new run")
    device = init_distributed()
    check_batch_memory(settings.batch_size, config.image_size, device, TRAINING_BYTES_PER_PIXEL)
    model = _model(config, None if args.resume else args.finetune, settings.uses_discriminator)
    Trainer(model, settings, device).fit(
        _dataset(args.data, config.image_size, args.id_sampling),
        steps=steps,
        out_dir=args.out,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        visualise_every=args.visualise_every,
        monitor_batch=_monitor_batch(args.data, config.image_size),
    )
    if is_main_process():
        print(f"trained {steps} steps; inference checkpoint: {args.out}/model.pth.tar")
