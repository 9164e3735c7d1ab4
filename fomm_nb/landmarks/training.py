"""Supervised training of the landmark detector, and its error on held-out renders.

Training frames are single frames of training-split procedural videos, each
with its rendered ground-truth landmarks; half of every batch is blurred and
noised (:func:`degrade`) as generated frames are, so that the ruler reads a
blurry picture as it reads a sharp one. The loss is the mean landmark distance
in pixels. The held-out error is measured on the test-split videos that
``fomm-nb evaluate`` uses, clean and degraded.

Example:
    >>> detector, log = train_landmark_detector(steps=2, batch_size=4, num_frames=8, width=4)
    >>> sorted(log)
    ['loss', 'seconds']
"""

import time

import numpy as np
import torch

from ..data.procedural import LANDMARK_NAMES, landmarks, make_video, render, split_seed, video_parameters
from .detector import LandmarkDetector, mirror_order, read_landmarks

__all__ = ["CONDITIONS", "gaussian_blur", "degrade", "training_frames", "train_landmark_detector", "shared_weights",
           "held_out_errors"]

#: Held-out conditions: name -> (gaussian blur sigma in pixels, noise standard deviation).
CONDITIONS = {"clean": (0.0, 0.0), "blur 0.5 px": (0.5, 0.0), "blur 1 px": (1.0, 0.0), "blur 1.5 px": (1.5, 0.0),
              "noise 0.03": (0.0, 0.03), "blur 1 px + noise 0.03": (1.0, 0.03)}

_MAX_BLUR, _MAX_NOISE = 1.5, 0.04  # the training augmentation's ranges


def gaussian_blur(images: torch.Tensor, blur: torch.Tensor) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` each blurred by a gaussian of ``blur[b]`` pixels (``(B,)``): linear, edges repeated.

    A blur of 0 leaves an image as it is. Any values may go in (the blur of a
    difference of images is the difference of their blurs).

    Example:
        >>> image = torch.zeros(1, 3, 9, 9); image[..., 4, 4] = 1.0
        >>> blurred = gaussian_blur(image, torch.tensor([1.0]))
        >>> round(blurred.sum().item() / 3, 4), round(blurred[0, 0, 4, 4].item(), 3)  # mass kept, peak spread
        (1.0, 0.159)
    """
    radius = 4
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype)
    sigma = blur.to(images.dtype).clamp(min=1e-3)[:, None]  # (B, 1)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(images.shape[1], 0)  # (B*C, 2r+1)
    batch, channels, height, width = images.shape
    x = torch.nn.functional.pad(images.reshape(1, batch * channels, height, width), [radius] * 4, mode="replicate")
    x = torch.nn.functional.conv2d(x, kernel[:, None, None, :], groups=batch * channels)  # along x
    x = torch.nn.functional.conv2d(x, kernel[:, None, :, None], groups=batch * channels)  # along y
    return x.reshape(batch, channels, height, width)


def degrade(images: torch.Tensor, blur: torch.Tensor, noise: torch.Tensor, generator: torch.Generator | None = None
            ) -> torch.Tensor:
    """``images`` ``(B, 3, H, W)`` blurred by a gaussian of ``blur[b]`` pixels and noised by ``noise[b]``, clipped to [0, 1].

    ``blur`` and ``noise`` are ``(B,)``; :func:`gaussian_blur`, then gaussian noise.

    Example:
        >>> image = torch.full((2, 3, 8, 8), 0.5)
        >>> noisy = degrade(image, torch.zeros(2), torch.tensor([0.0, 0.1]), torch.Generator().manual_seed(0))
        >>> float(noisy[0].std()), round(float(noisy[1].std()), 1)
        (0.0, 0.1)
    """
    x = gaussian_blur(images, blur)
    x = x + noise.to(images.dtype)[:, None, None, None] * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return x.clamp(0, 1)


def training_frames(num_frames: int, size: int = 64, seed: int = 0, per_video: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``num_frames`` training-split frames ``(N, S, S, 3)`` uint8 and their landmarks ``(N, L, 2)`` float32 pixels.

    ``per_video`` frames are drawn at random from each 64-frame training video,
    so that poses vary much more than between neighbouring frames.

    Example:
        >>> frames, points = training_frames(2, size=32)
        >>> frames.shape, points.shape
        ((2, 32, 32, 3), (2, 13, 2))
    """
    rng = np.random.default_rng(seed)
    frames, points = [], []
    for video in range(-(-num_frames // per_video)):
        identity, poses = video_parameters(split_seed("train", video, seed), 64)
        for index in rng.choice(len(poses), per_video, replace=False):
            frames.append((render(identity, poses[index], size) * 255).round().astype(np.uint8))
            points.append(landmarks(identity, poses[index], size))
    return np.stack(frames[:num_frames]), np.stack(points[:num_frames])


def train_landmark_detector(steps: int = 1500, batch_size: int = 32, num_frames: int = 12_000, width: int = 16,
                            learning_rate: float = 2e-3, seed: int = 0, progress: bool = False,
                            degraded_fraction: float = 0.5, max_blur: float = _MAX_BLUR, max_noise: float = _MAX_NOISE,
                            fine: bool = False, init: LandmarkDetector | None = None
                            ) -> tuple[LandmarkDetector, dict[str, list[float]]]:
    """Train a detector: ``(detector in eval mode, {"loss": per step, "seconds": per step})``.

    From scratch, or from ``init``: every weight of ``init`` whose name and
    shape the new network has is copied before the first step (a ``fine``
    detector started from a half-resolution one gets all but its last up block
    and its head).

    Adam, the learning rate divided by 5 at 60 % and 85 % of ``steps``; the
    loss is the mean distance in pixels between predicted and true landmarks.
    A share ``degraded_fraction`` of every batch is blurred (sigma uniform in
    ``[0, max_blur]`` pixels) and noised (standard deviation uniform in ``[0, max_noise]``).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    frames, points = training_frames(num_frames, seed=seed)
    images, targets = torch.from_numpy(frames).permute(0, 3, 1, 2), torch.from_numpy(points)
    detector = LandmarkDetector(num_landmarks=points.shape[1], width=width, image_size=frames.shape[1],
                                mirror=mirror_order(LANDMARK_NAMES), fine=fine)
    if init is not None:
        detector.load_state_dict(shared_weights(init, detector), strict=False)
    optimiser = torch.optim.Adam(detector.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, [int(0.6 * steps), int(0.85 * steps)], gamma=0.2)
    log = {"loss": [], "seconds": []}
    start, steps_range = time.perf_counter(), range(steps)
    if progress:
        from tqdm.auto import tqdm

        steps_range = tqdm(steps_range, unit="step", desc="landmarks")
    detector.train()
    for _ in steps_range:
        pick = torch.randint(len(images), (batch_size,), generator=generator)
        batch = images[pick].float() / 255
        degraded = torch.rand(batch_size, generator=generator) < degraded_fraction  # this share blurred and noised
        blur = torch.rand(batch_size, generator=generator) * max_blur * degraded
        noise = torch.rand(batch_size, generator=generator) * max_noise * degraded
        predicted = detector(degrade(batch, blur, noise, generator))
        loss = torch.linalg.vector_norm(predicted - targets[pick], dim=-1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        log["loss"].append(loss.item())
        log["seconds"].append(time.perf_counter() - start)
        if progress:
            steps_range.set_postfix(pixels=f"{loss.item():.3f}")
    return detector.eval(), log


def shared_weights(source: torch.nn.Module, target: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of ``source``'s state dict that ``target`` has under the same name and with the same shape.

    Example:
        >>> half, fine = LandmarkDetector(width=4), LandmarkDetector(width=4, fine=True)
        >>> missing = set(fine.state_dict()) - set(shared_weights(half, fine))  # the head's bias fits
        >>> sorted({name.rsplit(".", 1)[0] for name in missing})
        ['head', 'up.2.conv', 'up.2.norm']
    """
    wanted = target.state_dict()
    return {name: tensor for name, tensor in source.state_dict().items()
            if name in wanted and wanted[name].shape == tensor.shape}


def held_out_errors(detector: LandmarkDetector, num_videos: int = 50, num_frames: int = 32,
                    conditions: dict[str, tuple[float, float]] | None = None) -> dict[str, float]:
    """Mean landmark error in pixels on test-split videos under each condition (default :data:`CONDITIONS`).

    The videos are those of ``fomm-nb evaluate`` (``split_seed("test", i)``); noise is seeded (repeatable).

    Example:
        >>> errors = held_out_errors(LandmarkDetector(width=4), num_videos=1, num_frames=2, conditions={"clean": (0, 0)})
        >>> list(errors)
        ['clean']
    """
    conditions = CONDITIONS if conditions is None else conditions
    size = detector.settings["image_size"]
    videos = [make_video(split_seed("test", index), num_frames, size) for index in range(num_videos)]
    frames = torch.from_numpy(np.concatenate([video.frames for video in videos])).permute(0, 3, 1, 2)
    truth = np.concatenate([video.landmarks for video in videos])
    errors = {}
    for name, (blur, noise) in conditions.items():
        count = len(frames)
        degraded = degrade(frames, torch.full((count,), float(blur)), torch.full((count,), float(noise)),
                           torch.Generator().manual_seed(0))
        found = read_landmarks(detector, degraded.permute(0, 2, 3, 1).numpy())
        errors[name] = float(np.linalg.norm(found - truth, axis=-1).mean())
    return errors
