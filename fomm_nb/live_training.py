"""Training in a notebook: a tiny config, and a loop that redraws its losses and keypoints as it goes.

:func:`train_live` runs :meth:`fomm_nb.train.Trainer.train_step` on batches
of a data set and, every few steps, redraws one figure in place: the loss
curves, titled "step n / N, ETA mm:ss", and the keypoints the detector finds
on a few fixed frames. The figure appears with the first drawing, never as
empty axes.
``fomm-nb train`` is the way to train for real (checkpoints, resuming, a CSV
log); this loop is for watching the first steps.

Example:
    >>> from fomm_nb.model import build_model
    >>> from fomm_nb.train import Trainer, TrainSettings
    >>> from fomm_nb.data import ProceduralFaces, make_video
    >>> model = build_model(tiny_config())
    >>> trainer = Trainer(model, TrainSettings(batch_size=2))
    >>> history = train_live(trainer, ProceduralFaces("train"), steps=2,
    ...                      frames=make_video(5, 2).frames, display=False)
    >>> len(history), "total" in history[-1]
    (2, True)
"""

import copy
import os
import time
from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .config import ModelConfig, load_config
from .errors import InputError
from .media import to_tensor
from .model import FirstOrderModel
from .plotting import plot_keypoints
from .train.trainer import Trainer

__all__ = ["tiny_config", "TrainingMonitor", "train_live", "clock"]

TINY_WIDTH = {"block_expansion": 8, "max_features": 32}  # a quarter of the bundled model's channels


def tiny_config(base: str | os.PathLike | ModelConfig | None = None) -> ModelConfig:
    """The bundled model's config (``checkpoints/fomm-nb-faces.yaml``) with narrow layers: fast on a CPU.

    A few dozen steps of it take seconds; it is for watching training start, not for a usable model.

    Example:
        >>> tiny_config().kp_detector_params["block_expansion"]
        8
    """
    if base is None:
        from .hub import config_of

        base = config_of("demo")
    config = copy.deepcopy(load_config(base))
    config.name = f"{config.name}-tiny"
    config.kp_detector_params.update(TINY_WIDTH)
    config.generator_params.update(TINY_WIDTH, num_bottleneck_blocks=1)
    config.generator_params.setdefault("dense_motion_params", {}).update(TINY_WIDTH)
    return config


def clock(seconds: float) -> str:
    """``seconds`` as ``m:ss`` (or ``h:mm:ss``).

    Example:
        >>> clock(75.4), clock(3725)
        ('1:15', '1:02:05')
    """
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainingMonitor:
    """One figure, redrawn in place: loss curves (left) and keypoints on fixed ``frames`` (right).

    Args:
        model: the :class:`~fomm_nb.model.FirstOrderModel` being trained.
        frames: ``(N, H, W, 3)`` frames at the model's size (2 to 4 read best).
        display: show the figure in the notebook (an IPython display handle, shown
            at the first :meth:`draw` and updated in place); False keeps it in
            ``figure`` only (scripts, tests).
        total_steps: the steps of this run, for the title's "step n / N, ETA".

    Example:
        >>> monitor = TrainingMonitor(model, frames, display=False)  # doctest: +SKIP
        >>> monitor.record(1, {"total": 3.2}); monitor.draw()  # doctest: +SKIP
    """

    def __init__(self, model: FirstOrderModel, frames: np.ndarray, display: bool = True,
                 total_steps: int | None = None) -> None:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 4 or len(frames) == 0:
            raise InputError(f"frames must be (N, H, W, 3) with N >= 1, got shape {frames.shape}")
        self.model = model
        self.frames = frames
        self.history = []  # one dict per step: step, seconds, and the losses
        self.total_steps = total_steps
        self.figure = plt.figure(figsize=(3.2 + 2.2 * len(frames), 3.0))
        plt.close(self.figure)
        grid = self.figure.add_gridspec(1, len(frames) + 1, width_ratios=[1.5] + [1] * len(frames))
        self.loss_ax = self.figure.add_subplot(grid[0])
        self.frame_axes = [self.figure.add_subplot(grid[i + 1]) for i in range(len(frames))]
        self.display = display
        self._handle = None  # the notebook's picture, made at the first draw: no empty axes before

    def record(self, step: int, losses: dict[str, float], seconds: float | None = None) -> None:
        """Remember the losses (floats) of ``step``."""
        self.history.append({"step": step, "seconds": seconds, **losses})

    @torch.no_grad()
    def keypoints(self) -> dict[str, np.ndarray]:
        """The detector's keypoints on the frames, in eval mode: ``value`` ``(N, K, 2)``, ``jacobian``."""
        detector = self.model.kp_detector
        was_training = detector.training
        detector.eval()
        try:
            kp = detector(to_tensor(self.frames, device=self.model.device))
        finally:
            detector.train(was_training)
        return {key: value.cpu().numpy() for key, value in kp.items()}

    def draw(self) -> None:
        """Redraw the figure from the history and the current weights (and update the notebook's picture)."""
        ax = self.loss_ax
        ax.clear()
        if self.history:
            steps = [row["step"] for row in self.history]
            names = [name for name in self.history[-1] if name not in ("step", "seconds")]
            for name in names:
                ax.plot(steps, [row.get(name, np.nan) for row in self.history], label=name.replace("_", " "),
                        linewidth=2 if name == "total" else 1)
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "the losses appear\nafter the first step", ha="center", va="center", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(self.title(), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        kp = self.keypoints()
        for index, (frame_ax, frame) in enumerate(zip(self.frame_axes, self.frames)):
            frame_ax.clear()
            jacobian = kp["jacobian"][index] if "jacobian" in kp else None
            plot_keypoints(frame, kp["value"][index], jacobian, ax=frame_ax, labels=False)
            frame_ax.set_title(f"frame {index}", fontsize=9)
        self.figure.tight_layout()
        if self._handle is not None:
            self._handle.update(self.figure)
        elif self.display:
            from IPython.display import display as show

            self._handle = show(self.figure, display_id=True)

    def title(self) -> str:
        """``"step n / N, ETA m:ss"`` (the steps of this run; the ETA from their mean time so far).

        Example:
            >>> monitor = TrainingMonitor(model, frames, display=False, total_steps=60)  # doctest: +SKIP
            >>> monitor.record(1, {"total": 1.0}, seconds=2.0); monitor.title()  # doctest: +SKIP
            'step 1 / 60, ETA 1:58'
        """
        done = len(self.history)
        if not done:
            return "losses: starting…"
        total = self.total_steps or done
        seconds = self.history[-1].get("seconds")
        eta = f", ETA {clock(seconds / done * (total - done))}" if seconds is not None else ""
        return f"step {done} / {total}{eta}"


def _batches(dataset: Dataset, batch_size: int, seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """Shuffled batches forever (a new order each pass)."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)


def train_live(
    trainer: Trainer,
    dataset: Dataset,
    steps: int,
    frames: np.ndarray,
    every: int = 10,
    display: bool = True,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train ``steps`` steps with ``trainer``, redrawing a :class:`TrainingMonitor` every ``every`` steps.

    Args:
        trainer: a :class:`~fomm_nb.train.Trainer`.
        dataset: items with ``source`` and ``driving`` ``(3, H, W)`` (e.g.
            :class:`~fomm_nb.data.ProceduralFaces`).
        steps: how many steps to run now.
        frames: ``(N, H, W, 3)`` frames whose keypoints are drawn.
        display: show the monitor in the notebook.
        seed: the order of the batches.

    Returns:
        The history: one dict per step (``step``, ``seconds`` since the start, and each loss).
    """
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    monitor = TrainingMonitor(trainer.model, frames, display=display, total_steps=steps)
    start = time.perf_counter()
    batches = _batches(dataset, trainer.settings.batch_size, seed)
    monitor.draw()  # the keypoints before training, and a note where the losses will be
    for done in range(1, steps + 1):
        losses = trainer.train_step(next(batches))
        monitor.record(trainer.step, losses, time.perf_counter() - start)
        if done % every == 0 or done == steps:
            monitor.draw()
    return monitor.history
