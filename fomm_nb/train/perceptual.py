"""Perceptual reconstruction loss on VGG-19 features, when its ImageNet weights are on this machine.

The published models compare the prediction and the driving frame on the
``relu1_1 .. relu5_1`` activations of an ImageNet VGG-19, at every scale of an
image pyramid. Those weights cannot be downloaded here, so this module only
*looks* for a local copy (torchvision's ``vgg19-dcbb9e9d.pth`` layout):

1. the file named by the ``FOMM_NB_VGG19`` environment variable;
2. ``<torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth`` (where torchvision caches it);
3. ``checkpoints/cache/vgg19-dcbb9e9d.pth`` in the working directory.

Without one, training uses :class:`~fomm_nb.train.losses.PyramidL1` (see
:func:`~fomm_nb.train.losses.reconstruction_loss`).

Example:
    >>> path = find_vgg19_weights()  # None on a machine without the file
    >>> loss = PerceptualPyramid(Vgg19Features(path), scales=(1, 0.5)) if path else None  # doctest: +SKIP
"""

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..modules.blocks import ImagePyramid
from ..safe_load import load_checkpoint_file

__all__ = ["VGG19_FILE", "find_vgg19_weights", "Vgg19Features", "PerceptualPyramid"]

VGG19_FILE = "vgg19-dcbb9e9d.pth"

# VGG-19 ("configuration E"): channels of each 3x3 convolution, "M" for 2x2 max pooling.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
# Indices into ``features`` just after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
_SLICE_ENDS = (2, 7, 12, 21, 30)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def find_vgg19_weights() -> Path | None:
    """The first local VGG-19 weights file of the search order above, or ``None``."""
    candidates = [os.environ.get("FOMM_NB_VGG19")]
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE)
    candidates.append(Path("checkpoints") / "cache" / VGG19_FILE)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


class Vgg19Features(nn.Module):
    """The five published VGG-19 activations of an image ``(B, 3, H, W)`` in [0, 1]; frozen.

    ``weights`` is a torchvision-layout state dict file (keys ``features.N.*``);
    ``None`` leaves the network random (for tests only).
    """

    def __init__(self, weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        layers, channels = [], 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers[: _SLICE_ENDS[-1]])
        if weights is not None:
            state = load_checkpoint_file(weights)
            self.features.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        out, activations, start = (image - self.mean) / self.std, [], 0
        for end in _SLICE_ENDS:
            out = self.features[start:end](out)
            activations.append(out)
            start = end
        return activations


class PerceptualPyramid(nn.Module):
    """``sum_scales sum_i weights[i] * |vgg_i(prediction) - vgg_i(target)|`` (mean over elements), as published."""

    def __init__(
        self,
        features: Vgg19Features,
        scales: Sequence[float] = (1, 0.5, 0.25, 0.125),
        weights: Sequence[float] = (10, 10, 10, 10, 10),
    ) -> None:
        super().__init__()
        self.features = features
        self.pyramid = ImagePyramid(scales)
        self.weights = tuple(weights)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = 0.0
        predicted, real = self.pyramid(prediction), self.pyramid(target)
        for scale in self.pyramid.scales:
            for weight, fake, true in zip(self.weights, self.features(predicted[scale]), self.features(real[scale])):
                total = total + weight * (fake - true.detach()).abs().mean()
        return total
