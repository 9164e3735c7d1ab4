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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..checkpoints import save_inference_checkpoint
from ..safe_load import load_checkpoint_file
from .losses import PyramidL1, equivariance_jacobian_loss, equivariance_value_loss
from .transforms import RandomTPS


@dataclass
class TrainSettings:
    """Optimisation settings (a subset of the published ``train_params``, counted in steps)."""

    batch_size: int = 16
    lr: float = 2e-4
    lr_milestones: list = field(default_factory=list)  # steps at which the learning rate drops 10x
    reconstruction_weight: float = 10.0
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0
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
        settings = cls()
        return cls(
            batch_size=params.get("batch_size", settings.batch_size),
            lr=params.get("lr_generator", settings.lr),
            lr_milestones=list(params.get("step_milestones", [])),
            reconstruction_weight=weights.get("reconstruction", settings.reconstruction_weight),
            equivariance_value=weights.get("equivariance_value", settings.equivariance_value),
            equivariance_jacobian=weights.get("equivariance_jacobian", settings.equivariance_jacobian),
            sigma_affine=transform.get("sigma_affine", settings.sigma_affine),
            sigma_tps=transform.get("sigma_tps", settings.sigma_tps),
            points_tps=transform.get("points_tps", settings.points_tps),
            pyramid_scales=tuple(params.get("scales", settings.pyramid_scales)),
        )


class Trainer:
    """Trains ``model`` (a :class:`~fomm_nb.model.FirstOrderModel`) with :class:`TrainSettings`."""

    def __init__(self, model, settings):
        self.model = model
        self.settings = settings
        self.reconstruction = PyramidL1(settings.pyramid_scales)
        self.optimizer_generator = torch.optim.Adam(model.generator.parameters(), lr=settings.lr, betas=(0.5, 0.999))
        self.optimizer_kp_detector = torch.optim.Adam(model.kp_detector.parameters(), lr=settings.lr, betas=(0.5, 0.999))
        self.step = 0

    def losses(self, batch):
        """The weighted losses of one batch: a dict of scalar tensors, ``total`` included."""
        settings = self.settings
        source, driving = batch["source"], batch["driving"]
        kp_source = self.model.kp_detector(source)
        kp_driving = self.model.kp_detector(driving)
        out = self.model.generator(source, kp_source=kp_source, kp_driving=kp_driving)
        losses = {"reconstruction": settings.reconstruction_weight * self.reconstruction(out["prediction"], driving)}

        transform = RandomTPS(driving.shape[0], settings.sigma_affine, settings.sigma_tps, settings.points_tps, driving.device)
        kp_transformed = self.model.kp_detector(transform.warp_image(driving))
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

    def fit(self, dataset, steps, out_dir, log_every=10, checkpoint_every=200, visualise_every=200, progress=True):
        """Train until ``steps`` in total, resuming from ``out_dir/checkpoint.pth.tar`` when present.

        Writes ``log.csv`` (one row every ``log_every`` steps), ``checkpoint.pth.tar``
        (resumable), ``model.pth.tar`` (inference) and ``vis/step-N.png``.
        """
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = out_dir / "checkpoint.pth.tar"
        if checkpoint.exists():
            self.resume(checkpoint)
        loader = DataLoader(dataset, batch_size=self.settings.batch_size, shuffle=True, drop_last=True,
                            num_workers=self.settings.num_workers)
        log_path = out_dir / "log.csv"
        new_log = not log_path.exists()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, initial=self.step, unit="step")
        started = time.perf_counter()
        with log_path.open("a", newline="") as log_file:
            writer = None
            while self.step < steps:
                for batch in loader:
                    losses = self.train_step(batch)
                    if writer is None:
                        writer = csv.DictWriter(log_file, fieldnames=["step", "seconds", *losses])
                        if new_log:
                            writer.writeheader()
                    if self.step % log_every == 0 or self.step >= steps:
                        writer.writerow({"step": self.step, "seconds": round(time.perf_counter() - started, 1), **losses})
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
