"""The training loop: reconstruction of a driving frame from a source frame of the same video (paper, section 3.4).

One step detects keypoints in source and driving, animates the source
(absolute motion), and minimises the reconstruction loss plus the
equivariance losses on a randomly warped copy of the driving frame; with a
discriminator, also LSGAN and feature matching, and then one discriminator
step. Checkpoints use the published layout (``generator``, ``kp_detector``,
``discriminator``, ``optimizer_*``, ``epoch``) plus ``step``, ``seconds``,
``settings`` and ``config``, so they resume here and load in the published
code alike. Under ``torchrun`` the networks are DistributedDataParallel with
synchronised batch norm (:mod:`fomm_nb.train.distributed`).

Example:
    >>> trainer = Trainer(build_model(load_config("checkpoints/fomm-nb-faces.yaml")), TrainSettings())  # doctest: +SKIP
    >>> trainer.fit(ProceduralFaces("train"), steps=100, out_dir="runs/faces")  # doctest: +SKIP
"""

import csv
import os
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..checkpoints import save_inference_checkpoint
from ..config import ModelConfig
from ..errors import ConfigError
from ..model import FirstOrderModel
from ..safe_load import load_checkpoint_file
from .adversarial import DiscriminatorInput, discriminator_loss, feature_matching_loss, generator_adversarial_loss
from .distributed import convert_sync_batchnorm, is_distributed, is_main_process
from .losses import equivariance_jacobian_loss, equivariance_value_loss, keypoint_separation_loss, reconstruction_loss
from .transforms import RandomTPS

__all__ = ["TrainSettings", "Trainer"]


@dataclass
class TrainSettings:
    """Optimisation settings: the published ``train_params``, counted in steps, plus a few of ours."""

    batch_size: int = 16  # per process under torchrun
    lr_generator: float = 2e-4
    lr_kp_detector: float = 2e-4
    lr_discriminator: float = 2e-4
    lr_milestones: list[int] = field(default_factory=list)  # steps at which the learning rates drop 10x
    reconstruction_weight: float = 10.0  # the L1 pyramid's weight when no VGG-19 weights are local
    perceptual: tuple[float, ...] = (10, 10, 10, 10, 10)  # published: VGG-19 relu1_1 .. relu5_1
    vgg19: str | None = "auto"  # a weights file, "auto" (search) or None (never perceptual)
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0
    keypoint_separation: float = 0.0  # ours: see losses.keypoint_separation_loss
    separation_sigma: float = 0.1
    generator_gan: float = 0.0
    discriminator_gan: float = 1.0
    feature_matching: tuple[float, ...] = ()  # one weight per discriminator block
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5
    pyramid_scales: tuple[float, ...] = (1, 0.5, 0.25)
    num_workers: int = 0

    @property
    def uses_discriminator(self) -> bool:
        """Whether the generator's loss involves the discriminator (then it is trained too)."""
        return bool(self.generator_gan or any(self.feature_matching))

    @classmethod
    def from_config(cls, config: ModelConfig) -> "TrainSettings":
        """Read ``train_params`` of a config (the keys this trainer understands)."""
        params = config.train_params
        weights = params.get("loss_weights", {})
        transform = params.get("transform_params", {})
        default = cls()
        return cls(
            batch_size=params.get("batch_size", default.batch_size),
            lr_generator=params.get("lr_generator", default.lr_generator),
            lr_kp_detector=params.get("lr_kp_detector", default.lr_kp_detector),
            lr_discriminator=params.get("lr_discriminator", default.lr_discriminator),
            lr_milestones=list(params.get("step_milestones", [])),
            reconstruction_weight=weights.get("reconstruction", default.reconstruction_weight),
            perceptual=tuple(weights.get("perceptual", default.perceptual)),
            equivariance_value=weights.get("equivariance_value", default.equivariance_value),
            equivariance_jacobian=weights.get("equivariance_jacobian", default.equivariance_jacobian),
            keypoint_separation=weights.get("keypoint_separation", default.keypoint_separation),
            separation_sigma=params.get("separation_sigma", default.separation_sigma),
            generator_gan=weights.get("generator_gan", default.generator_gan),
            discriminator_gan=weights.get("discriminator_gan", default.discriminator_gan),
            feature_matching=tuple(weights.get("feature_matching", default.feature_matching)),
            sigma_affine=transform.get("sigma_affine", default.sigma_affine),
            sigma_tps=transform.get("sigma_tps", default.sigma_tps),
            points_tps=transform.get("points_tps", default.points_tps),
            pyramid_scales=tuple(params.get("scales", default.pyramid_scales)),
        )


def _truncate_log(path: Path, step: int) -> None:
    """Drop the rows of ``log.csv`` after ``step``: the steps a resumed run does again."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) <= step]
    if len(kept) < len(rows):
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows(kept)


def _adam(module: nn.Module, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999))


class Trainer:
    """Trains ``model`` (a :class:`~fomm_nb.model.FirstOrderModel`) with :class:`TrainSettings`.

    The model needs a discriminator (``build_model(config, with_discriminator=True)``)
    when the settings use one. Inside a process group (see
    :func:`~fomm_nb.train.distributed.init_distributed`) each process sees its
    own share of the data and only rank 0 writes files.
    """

    def __init__(self, model: FirstOrderModel, settings: TrainSettings, device: str | torch.device = "cpu") -> None:
        if settings.uses_discriminator and model.discriminator is None:
            raise ConfigError("the settings use a discriminator (generator_gan or feature_matching) but the model has none")
        self.device = torch.device(device)
        self.settings = settings
        self.reconstruction, self.reconstruction_name = reconstruction_loss(
            settings.pyramid_scales, settings.reconstruction_weight, settings.perceptual, settings.vgg19
        )
        self.reconstruction.to(self.device)
        model.kp_detector = convert_sync_batchnorm(model.kp_detector, self.device)
        model.generator = convert_sync_batchnorm(model.generator, self.device)
        self.model = model.to(self.device)
        self.discriminator = model.discriminator if settings.uses_discriminator else None
        self.kp_detector, self.generator = model.kp_detector, model.generator
        self.discriminator_step_module = self.discriminator
        if is_distributed():
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.kp_detector = DistributedDataParallel(model.kp_detector, device_ids=device_ids)
            self.generator = DistributedDataParallel(model.generator, device_ids=device_ids)
            if self.discriminator is not None:
                self.discriminator_step_module = DistributedDataParallel(self.discriminator, device_ids=device_ids)
        self.optimizers = {
            "generator": _adam(model.generator, settings.lr_generator),
            "kp_detector": _adam(model.kp_detector, settings.lr_kp_detector),
        }
        if self.discriminator is not None:
            self.optimizers["discriminator"] = _adam(self.discriminator, settings.lr_discriminator)
            self.discriminator_input = DiscriminatorInput(model.config.discriminator_params.get("scales", [1])).to(self.device)
        self.step = 0
        self.seconds = 0.0  # training wall time, summed over resumed runs
        self._monitored = {}
        self._last = None

    def _detect(self, *images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Keypoints of several image batches in one detector pass (one forward per step suits DDP)."""
        batch_size = images[0].shape[0]
        detected = self.kp_detector(torch.cat(images))
        return [{key: value[i * batch_size : (i + 1) * batch_size] for key, value in detected.items()} for i in range(len(images))]

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weighted generator-side losses of one batch: a dict of scalar tensors, ``total`` included."""
        settings = self.settings
        source, driving = batch["source"].to(self.device), batch["driving"].to(self.device)
        transform = RandomTPS(driving.shape[0], settings.sigma_affine, settings.sigma_tps, settings.points_tps, self.device)
        kp_source, kp_driving, kp_transformed = self._detect(source, driving, transform.warp_image(driving))
        out = self.generator(source, kp_source=kp_source, kp_driving=kp_driving)
        losses = {"reconstruction": self.reconstruction(out["prediction"], driving)}
        if self.discriminator is not None:
            losses.update(self._adversarial_losses(driving, out["prediction"], kp_driving))
        losses["equivariance_value"] = settings.equivariance_value * equivariance_value_loss(kp_driving, kp_transformed, transform)
        if settings.equivariance_jacobian and "jacobian" in kp_driving:
            losses["equivariance_jacobian"] = settings.equivariance_jacobian * equivariance_jacobian_loss(
                kp_driving, kp_transformed, transform
            )
        if settings.keypoint_separation:
            losses["keypoint_separation"] = settings.keypoint_separation * keypoint_separation_loss(
                kp_driving, settings.separation_sigma
            )
        losses["total"] = sum(losses.values())
        self._last = {"source": source, "driving": driving, "kp_source": kp_source, "kp_driving": kp_driving, **out}
        return losses

    def _adversarial_losses(
        self, driving: torch.Tensor, prediction: torch.Tensor, kp_driving: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        kp = {key: value.detach() for key, value in kp_driving.items()}
        self.discriminator.requires_grad_(False)  # its own step comes later
        real = self.discriminator(self.discriminator_input(driving), kp=kp)
        fake = self.discriminator(self.discriminator_input(prediction), kp=kp)
        losses = {}
        if self.settings.generator_gan:
            losses["generator_gan"] = self.settings.generator_gan * generator_adversarial_loss(fake)
        if any(self.settings.feature_matching):
            losses["feature_matching"] = feature_matching_loss(real, fake, self.settings.feature_matching)
        return losses

    def _discriminator_step(self) -> float:
        self.discriminator.requires_grad_(True)
        kp = {key: value.detach() for key, value in self._last["kp_driving"].items()}
        real = self.discriminator_step_module(self.discriminator_input(self._last["driving"]), kp=kp)
        fake = self.discriminator_step_module(self.discriminator_input(self._last["prediction"].detach()), kp=kp)
        loss = self.settings.discriminator_gan * discriminator_loss(real, fake)
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["discriminator"].step()
        return float(loss.detach())

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step (generator and detector, then the discriminator); returns the losses as floats."""
        self.model.train()
        losses = self.losses(batch)
        for name in ("generator", "kp_detector"):
            self.optimizers[name].zero_grad(set_to_none=True)
        losses["total"].backward()
        for name in ("generator", "kp_detector"):
            self.optimizers[name].step()
        losses = {name: float(value.detach()) for name, value in losses.items()}
        if self.discriminator is not None:
            losses["discriminator_gan"] = self._discriminator_step()
        self.step += 1
        if self.step in self.settings.lr_milestones:
            for optimizer in self.optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] *= 0.1
        return losses

    @torch.no_grad()
    def monitor(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Held-out measures in eval mode: L1 of the prediction and of the still source, keypoint spread.

        ``batch`` holds ``source`` and ``driving`` ``(B, 3, H, W)``; the spread is
        the RMS distance of the driving keypoints from their centroid, in [-1, 1] units.
        """
        self.model.eval()
        source, driving = batch["source"].to(self.device), batch["driving"].to(self.device)
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

    def state_dict(self) -> dict:
        """A checkpoint in the published layout, plus ``step``, ``seconds``, ``settings`` and ``config``."""
        config = self.model.config.to_dict()
        config["name"] = self.model.config.name
        state = {"generator": self.model.generator.state_dict(), "kp_detector": self.model.kp_detector.state_dict()}
        if self.discriminator is not None:
            state["discriminator"] = self.discriminator.state_dict()
        state.update({f"optimizer_{name}": optimizer.state_dict() for name, optimizer in self.optimizers.items()})
        state.update(epoch=self.step, step=self.step, seconds=self.seconds, settings=asdict(self.settings), config=config)
        return state

    def save(self, path: str | os.PathLike) -> None:
        """Write a resumable checkpoint atomically."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        torch.save(self.state_dict(), temporary)
        temporary.replace(path)

    def resume(self, path: str | os.PathLike) -> None:
        """Load weights, optimiser states, the step count and the wall time from :meth:`save`'s file."""
        state = load_checkpoint_file(path)
        self.model.generator.load_state_dict(state["generator"])
        self.model.kp_detector.load_state_dict(state["kp_detector"])
        if self.discriminator is not None and "discriminator" in state:
            self.discriminator.load_state_dict(state["discriminator"])
        for name, optimizer in self.optimizers.items():
            if f"optimizer_{name}" in state:
                optimizer.load_state_dict(state[f"optimizer_{name}"])
        self.step = int(state.get("step", state.get("epoch", 0)))
        self.seconds = float(state.get("seconds", 0.0))

    def fit(
        self,
        dataset: Dataset,
        steps: int,
        out_dir: str | os.PathLike,
        log_every: int = 10,
        checkpoint_every: int = 200,
        visualise_every: int = 200,
        progress: bool = True,
        monitor_batch: Mapping[str, torch.Tensor] | None = None,
        monitor_every: int = 100,
    ) -> int:
        """Train until ``steps`` in total, resuming from ``out_dir/checkpoint.pth.tar`` when present.

        Writes (rank 0 only) ``log.csv`` (one row every ``log_every`` steps, with
        the :meth:`monitor` columns refreshed every ``monitor_every`` steps),
        ``checkpoint.pth.tar`` (resumable), ``model.pth.tar`` (inference) and
        ``vis/step-N.png``.
        """
        out_dir, main = Path(out_dir), is_main_process()
        out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = out_dir / "checkpoint.pth.tar"
        log_path = out_dir / "log.csv"
        if checkpoint.exists():
            self.resume(checkpoint)
            if main and log_path.exists():
                _truncate_log(log_path, self.step)
        sampler = DistributedSampler(dataset) if is_distributed() else None
        loader = DataLoader(dataset, batch_size=self.settings.batch_size, shuffle=sampler is None, sampler=sampler,
                            drop_last=True, num_workers=self.settings.num_workers)
        new_log = not log_path.exists()
        bar = None
        if progress and main:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, initial=self.step, unit="step")
        started, seconds_before = time.perf_counter(), self.seconds
        with log_path.open("a", newline="") if main else nullcontext() as log_file:
            writer = None
            while self.step < steps:
                if sampler is not None:
                    sampler.set_epoch(self.step)
                for batch in loader:
                    losses = self.train_step(batch)
                    self.seconds = seconds_before + time.perf_counter() - started
                    if main and self.step % log_every == 0:
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
                    if main and self.step % visualise_every == 0:
                        self.visualise(out_dir / "vis" / f"step-{self.step:06d}.png")
                    if main and (self.step % checkpoint_every == 0 or self.step >= steps):
                        self.save(checkpoint)
                        save_inference_checkpoint(self.model, out_dir / "model.pth.tar")
                    if self.step >= steps:
                        break
        if bar is not None:
            bar.close()
        return self.step

    def visualise(self, path: str | os.PathLike) -> None:
        """Save a picture of the last batch: source, driving, prediction (keypoints drawn), masks, occlusion."""
        import matplotlib.pyplot as plt

        from .visualise import training_figure

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure = training_figure(self._last)
        figure.savefig(path, dpi=80)
        plt.close(figure)
