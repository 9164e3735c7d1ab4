"""The training loop: reconstruction of a driving frame from a source frame of the same video.

One step detects keypoints in source and driving, animates the source
(absolute motion), and minimises the reconstruction loss plus the
equivariance losses on a randomly warped copy of the driving frame.
Checkpoints use the published layout (``generator``, ``kp_detector``,
``optimizer_*``, ``epoch``) plus ``step`` and ``config``, so they resume
here and load in the published code alike.

Example:
    >>> trainer = Trainer(build_model(load_config("checkpoints/fomm-nb-faces.yaml")), TrainSettings())  # doctest: +SKIP
    >>> trainer.fit(ProceduralFaces("train"), steps=100, out_dir="runs/faces")  # doctest: +SKIP
"""

import csv
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..checkpoints import save_inference_checkpoint
from ..safe_load import load_checkpoint_file
from .losses import PyramidL1, equivariance_jacobian_loss, equivariance_value_loss, keypoint_separation_loss
from .transforms import RandomTPS


@dataclass
class TrainSettings:
    """Optimisation settings: the published ``train_params``, counted in steps, plus a few of ours."""

    batch_size: int = 16
    lr_generator: float = 2e-4
    lr_kp_detector: float = 2e-4
    lr_milestones: list = field(default_factory=list)  # steps at which the learning rates drop 10x
    reconstruction_weight: float = 10.0
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0
    keypoint_separation: float = 0.0  # ours: see losses.keypoint_separation_loss
    separation_sigma: float = 0.1
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5
    pyramid_scales: tuple = (1, 0.5, 0.25)
    num_workers: int = 0

    @classmethod
    def from_config(cls, config):
        """Read ``train_params`` of a config (the keys this trainer understands)."""
        params = config.train_params
        weights = params.get("loss_weights", {})
        transform = params.get("transform_params", {})
        default = cls()
        return cls(
            batch_size=params.get("batch_size", default.batch_size),
            lr_generator=params.get("lr_generator", default.lr_generator),
            lr_kp_detector=params.get("lr_kp_detector", default.lr_kp_detector),
            lr_milestones=list(params.get("step_milestones", [])),
            reconstruction_weight=weights.get("reconstruction", default.reconstruction_weight),
            equivariance_value=weights.get("equivariance_value", default.equivariance_value),
            equivariance_jacobian=weights.get("equivariance_jacobian", default.equivariance_jacobian),
            keypoint_separation=weights.get("keypoint_separation", default.keypoint_separation),
            separation_sigma=params.get("separation_sigma", default.separation_sigma),
            sigma_affine=transform.get("sigma_affine", default.sigma_affine),
            sigma_tps=transform.get("sigma_tps", default.sigma_tps),
            points_tps=transform.get("points_tps", default.points_tps),
            pyramid_scales=tuple(params.get("scales", default.pyramid_scales)),
        )


class Trainer:
    """Trains ``model`` (a :class:`~fomm_nb.model.FirstOrderModel`) with :class:`TrainSettings`.

    Under ``torchrun`` (a process group initialised, see :func:`init_distributed`)
    the networks become DistributedDataParallel with SyncBatchNorm, each
    process sees its own share of the data, and only rank 0 writes files.
    """

    def __init__(self, model, settings, device="cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.settings = settings
        self.reconstruction = PyramidL1(settings.pyramid_scales).to(self.device)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.kp_detector, self.generator = model.kp_detector, model.generator
        if self.distributed:
            model.kp_detector = nn.SyncBatchNorm.convert_sync_batchnorm(model.kp_detector)
            model.generator = nn.SyncBatchNorm.convert_sync_batchnorm(model.generator)
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.kp_detector = DistributedDataParallel(model.kp_detector, device_ids=device_ids)
            self.generator = DistributedDataParallel(model.generator, device_ids=device_ids)
        self.is_main = not self.distributed or dist.get_rank() == 0
        self.optimizer_generator = torch.optim.Adam(model.generator.parameters(), lr=settings.lr_generator, betas=(0.5, 0.999))
        self.optimizer_kp_detector = torch.optim.Adam(
            model.kp_detector.parameters(), lr=settings.lr_kp_detector, betas=(0.5, 0.999)
        )
        self.step = 0
        self.seconds = 0.0  # training wall time, summed over resumed runs
        self._monitored = {}

    def losses(self, batch):
        """The weighted losses of one batch: a dict of scalar tensors, ``total`` included."""
        settings = self.settings
        source, driving = batch["source"].to(self.device), batch["driving"].to(self.device)
        batch_size = driving.shape[0]
        transform = RandomTPS(batch_size, settings.sigma_affine, settings.sigma_tps, settings.points_tps, self.device)
        # One detector pass over source, driving and warped driving (DDP wants one forward per step).
        detected = self.kp_detector(torch.cat([source, driving, transform.warp_image(driving)]))
        kp_source, kp_driving, kp_transformed = (
            {key: value[i * batch_size : (i + 1) * batch_size] for key, value in detected.items()} for i in range(3)
        )
        out = self.generator(source, kp_source=kp_source, kp_driving=kp_driving)
        losses = {"reconstruction": settings.reconstruction_weight * self.reconstruction(out["prediction"], driving)}
        losses["equivariance_value"] = settings.equivariance_value * equivariance_value_loss(kp_driving, kp_transformed, transform)
        if settings.equivariance_jacobian and "jacobian" in kp_driving:
            losses["equivariance_jacobian"] = settings.equivariance_jacobian * equivariance_jacobian_loss(
                kp_driving, kp_transformed, transform
            )
        losses["total"] = sum(losses.values())
        self._last = {"source": source, "driving": driving, "kp_source": kp_source, "kp_driving": kp_driving, **out}
        return losses

    def train_step(self, batch):
        """One optimisation step; returns the losses as floats."""
        self.model.train()
        losses = self.losses(batch)
        self.optimizer_generator.zero_grad(set_to_none=True)
        self.optimizer_kp_detector.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.optimizer_generator.step()
        self.optimizer_kp_detector.step()
        self.step += 1
        if self.step in self.settings.lr_milestones:
            for optimizer in (self.optimizer_generator, self.optimizer_kp_detector):
                for group in optimizer.param_groups:
                    group["lr"] *= 0.1
        return {name: float(value.detach()) for name, value in losses.items()}

    @torch.no_grad()
    def monitor(self, batch):
        """Held-out measures in eval mode: L1 of the prediction and of the still source, keypoint spread."""
        self.model.eval()
        source, driving = batch["source"], batch["driving"]
        kp_driving = self.model.kp_detector(driving)
        prediction = self.model.generator(source, kp_source=self.model.kp_detector(source), kp_driving=kp_driving)["prediction"]
        value = kp_driving["value"]
        spread = ((value - value.mean(1, keepdim=True)) ** 2).sum(-1).mean(1).sqrt().mean()
        self.model.train()
        return {
            "val_l1": float((prediction - driving).abs().mean()),
            "val_l1_still": float((source - driving).abs().mean()),
            "kp_spread": float(spread),
        }

    def state_dict(self):
        """A checkpoint in the published layout, plus ``step``, ``settings`` and ``config``."""
        config = self.model.config.to_dict()
        config["name"] = self.model.config.name
        return {
            "generator": self.model.generator.state_dict(),
            "kp_detector": self.model.kp_detector.state_dict(),
            "optimizer_generator": self.optimizer_generator.state_dict(),
            "optimizer_kp_detector": self.optimizer_kp_detector.state_dict(),
            "epoch": self.step,
            "step": self.step,
            "seconds": self.seconds,
            "settings": asdict(self.settings),
            "config": config,
        }

    def save(self, path):
        """Write a resumable checkpoint atomically."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), temporary)
        temporary.replace(path)

    def resume(self, path):
        """Load weights, optimiser states and the step count from :meth:`save`'s file."""
        state = load_checkpoint_file(path)
        self.model.generator.load_state_dict(state["generator"])
        self.model.kp_detector.load_state_dict(state["kp_detector"])
        self.optimizer_generator.load_state_dict(state["optimizer_generator"])
        self.optimizer_kp_detector.load_state_dict(state["optimizer_kp_detector"])
        self.step = int(state.get("step", state.get("epoch", 0)))
        self.seconds = float(state.get("seconds", 0.0))

    def fit(self, dataset, steps, out_dir, log_every=10, checkpoint_every=200, visualise_every=200, progress=True,
            monitor_batch=None, monitor_every=100):
        """Train until ``steps`` in total, resuming from ``out_dir/checkpoint.pth.tar`` when present.

        Writes ``log.csv`` (one row every ``log_every`` steps), ``checkpoint.pth.tar``
        (resumable), ``model.pth.tar`` (inference) and ``vis/step-N.png``.
        """
        out_dir = Path(out_dir)
        if self.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
        if self.distributed:
            dist.barrier()
        checkpoint = out_dir / "checkpoint.pth.tar"
        if checkpoint.exists():
            self.resume(checkpoint)
        sampler = DistributedSampler(dataset) if self.distributed else None
        loader = DataLoader(dataset, batch_size=self.settings.batch_size, shuffle=sampler is None, sampler=sampler,
                            drop_last=True, num_workers=self.settings.num_workers)
        log_path = out_dir / "log.csv"
        new_log = not log_path.exists()
        bar = None
        if progress and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, initial=self.step, unit="step")
        started, seconds_before = time.perf_counter(), self.seconds
        with log_path.open("a", newline="") if self.is_main else nullcontext() as log_file:
            writer = None
            while self.step < steps:
                if sampler is not None:
                    sampler.set_epoch(self.step)
                for batch in loader:
                    losses = self.train_step(batch)
                    self.seconds = seconds_before + time.perf_counter() - started
                    if self.step % log_every == 0:
                        row = {"step": self.step, "seconds": round(self.seconds, 1), **losses}
                        if monitor_batch is not None:
                            fresh = self.step % monitor_every == 0 or not self._monitored
                            self._monitored = self.monitor(monitor_batch) if fresh else self._monitored
                            row.update(self._monitored)
                        if writer is None:
                            writer = csv.DictWriter(log_file, fieldnames=list(row))
                            if new_log:
                                writer.writeheader()
                        writer.writerow(row)
                        log_file.flush()
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{losses['total']:.3f}")
                    if self.step % visualise_every == 0:
                        self.visualise(out_dir / "vis" / f"step-{self.step:06d}.png")
                    if self.step % checkpoint_every == 0 or self.step >= steps:
                        self.save(checkpoint)
                        save_inference_checkpoint(self.model, out_dir / "model.pth.tar")
                    if self.step >= steps:
                        break
        if bar is not None:
            bar.close()
        return self.step

    def visualise(self, path):
        """Save a picture of the last batch: source, driving, prediction (keypoints drawn), masks, occlusion."""
        from .visualise import training_figure

        path.parent.mkdir(parents=True, exist_ok=True)
        figure = training_figure(self._last)
        figure.savefig(path, dpi=80)
        import matplotlib.pyplot as plt

        plt.close(figure)


def init_distributed():
    """Join the process group that ``torchrun`` describes (WORLD_SIZE > 1); returns the device to use.

    gloo on CPU, NCCL with one GPU per process (``LOCAL_RANK``).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        return torch.device("cuda", local_rank)
    dist.init_process_group("gloo")
    return torch.device("cpu")
