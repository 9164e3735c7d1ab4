"""ONNX export of the keypoint detector and the generator, for deployment.

Four graphs, keypoint dicts flattened into named tensors. Two keep the
published call conventions:

* ``kp_detector.onnx``: ``image`` ``(B, C, H, W)`` -> ``kp_value`` ``(B, K, 2)``,
  ``kp_jacobian`` ``(B, K, 2, 2)`` (without Jacobians: ``kp_value`` only).
* ``generator.onnx``: ``source`` ``(1, C, H, W)``, ``kp_source_value``,
  ``kp_source_jacobian`` (batch 1), ``kp_driving_value``,
  ``kp_driving_jacobian`` (batch ``B``) -> ``prediction`` ``(B, C, H, W)``.
  Motion transfer (:func:`fomm_nb.motion.normalize_kp`) happens before:
  pass the normalised driving keypoints.

Two split ``generator.onnx`` where
:meth:`~fomm_nb.modules.generator.OcclusionAwareGenerator.encode_source`
does, so that a video encodes its source once:

* ``source_encoder.onnx``: ``source`` ``(B, C, H, W)`` -> ``features``
  ``(B, F, H / 2^d, W / 2^d)``, ``motion_image`` ``(B, C, h, w)`` (without a
  dense motion network: ``features`` only).
* ``generator_from_encoding.onnx``: ``features``, ``motion_image`` (batch 1),
  the keypoints as for ``generator.onnx`` -> ``prediction``. The source image
  is no input: the prediction does not depend on it. Nor, without a dense
  motion network, on the keypoints: that graph takes ``features`` and
  ``kp_driving_value`` (for the batch) only. Feed what
  ``session.get_inputs()`` lists.

The batch axes are dynamic; the image size is fixed at export (the
model's, or ``image_size``). ``grid_sample``
needs opset 16 or later. The graphs come from the model as published (ONNX
Runtime folds BatchNorm itself), with the legacy TorchScript exporter, which
needs no package beyond ``onnx``.

Example:
    >>> from fomm_nb.hub import get_model
    >>> paths = export_onnx(get_model("demo", device="cpu"), "exported")
    >>> [path.name for path in paths]
    ['kp_detector.onnx', 'generator.onnx', 'source_encoder.onnx', 'generator_from_encoding.onnx']
"""

import argparse
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .arguments import int_option
from .errors import InputError
from .model import FirstOrderModel
from .modules.generator import SourceEncoding
from .outputs import Output, check_outputs

__all__ = [
    "export_onnx", "export_keypoint_detector", "export_generator", "export_source_encoder",
    "export_generator_from_encoding", "ONNX_OPSET", "MIN_OPSET", "MAX_OPSET", "GRAPH_FILES",
]

#: The opset of the exported graphs.
ONNX_OPSET = 17
#: The first opset with ``GridSample``.
MIN_OPSET = 16
#: The last opset the TorchScript exporter of torch 2.x writes.
MAX_OPSET = 20
#: What :func:`export_onnx` writes into its folder.
GRAPH_FILES = ("kp_detector.onnx", "generator.onnx", "source_encoder.onnx", "generator_from_encoding.onnx")


class _KeypointGraph(nn.Module):
    """The keypoint detector with tensor outputs instead of a dict."""

    def __init__(self, kp_detector):
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image):
        kp = self.kp_detector(image)
        return (kp["value"], kp["jacobian"]) if "jacobian" in kp else kp["value"]


def _keypoint_dicts(keypoints):
    """``(kp_source, kp_driving)`` from the flat ``(source value[, jacobian], driving value[, jacobian])``."""
    half = len(keypoints) // 2
    names = ("value", "jacobian")[:half]
    return dict(zip(names, keypoints[:half])), dict(zip(names, keypoints[half:]))


class _GeneratorGraph(nn.Module):
    """The generator with keypoint tensors in and the prediction out."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source, *keypoints):
        kp_source, kp_driving = _keypoint_dicts(keypoints)
        return self.generator(source, kp_driving=kp_driving, kp_source=kp_source)["prediction"]


class _SourceEncoderGraph(nn.Module):
    """The generator's source-only share: ``features`` and, with a dense motion network, ``motion_image``."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source):
        encoding = self.generator.encode_source(source)
        return encoding.features if encoding.motion_image is None else (encoding.features, encoding.motion_image)


class _EncodedGeneratorGraph(nn.Module):
    """The generator's per-frame share: the encoding and keypoint tensors in, the prediction out.

    ``image`` feeds only the generator's ``deformed`` picture, which the
    graph leaves out, so the exporter drops it from the graph's inputs.
    """

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, image, features, *rest):
        with_motion = self.generator.dense_motion_network is not None
        motion_image, keypoints = (rest[0], rest[1:]) if with_motion else (None, rest)
        kp_source, kp_driving = _keypoint_dicts(keypoints)
        encoding = SourceEncoding(image, features, motion_image)
        return self.generator.animate(encoding, kp_source, kp_driving)["prediction"]


def _export(graph, inputs, path, input_names, output_names, dynamic_axes, opset):
    """Export ``graph`` to a hidden file beside ``path``, then rename it: no half-written graph at ``path``."""
    if opset < MIN_OPSET:
        raise InputError(f"opset {opset} has no GridSample, which the generator needs: use {MIN_OPSET} or later")
    if opset > MAX_OPSET:
        raise InputError(f"opset {opset}: the exporter writes opsets up to {MAX_OPSET}; use {MIN_OPSET} to {MAX_OPSET}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            torch.onnx.export(
                graph.eval(),
                inputs,
                str(temporary),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                dynamo=False,
            )
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _example_image(model: FirstOrderModel, batch: int, image_size: int | None) -> torch.Tensor:
    size = model.config.check_image_size(model.image_size if image_size is None else image_size)
    return torch.rand(batch, model.config.num_channels, size, size, device=model.device)


def export_keypoint_detector(
    model: FirstOrderModel, path: str | os.PathLike, image_size: int | None = None, opset: int = ONNX_OPSET
) -> Path:
    """Write ``model``'s keypoint detector to ``path`` (``.onnx``); returns the path."""
    jacobian = model.config.estimate_jacobian
    outputs = ["kp_value", "kp_jacobian"] if jacobian else ["kp_value"]
    axes = {name: {0: "batch"} for name in ["image", *outputs]}
    return _export(_KeypointGraph(model.kp_detector), (_example_image(model, 2, image_size),), path, ["image"], outputs, axes, opset)


def _example_keypoints(model: FirstOrderModel, source: torch.Tensor, image_size: int | None):
    """``(tensors, names, axes)``: keypoints of ``source`` and of a driving batch of 2, flat, for a generator graph."""
    with torch.no_grad():
        kp_source = model.kp_detector(source)
        kp_driving = model.kp_detector(_example_image(model, 2, image_size))
    keys = [key for key in ("value", "jacobian") if key in kp_source]
    tensors = (*(kp_source[key] for key in keys), *(kp_driving[key] for key in keys))
    names = [*(f"kp_source_{key}" for key in keys), *(f"kp_driving_{key}" for key in keys)]
    axes = {f"kp_driving_{key}": {0: "batch"} for key in keys}
    return tensors, names, {**axes, "prediction": {0: "batch"}}


def export_generator(
    model: FirstOrderModel, path: str | os.PathLike, image_size: int | None = None, opset: int = ONNX_OPSET
) -> Path:
    """Write ``model``'s generator to ``path`` (``.onnx``); returns the path."""
    source = _example_image(model, 1, image_size)
    keypoints, names, axes = _example_keypoints(model, source, image_size)
    inputs, input_names = (source, *keypoints), ["source", *names]
    return _export(_GeneratorGraph(model.generator), inputs, path, input_names, ["prediction"], axes, opset)


def export_source_encoder(
    model: FirstOrderModel, path: str | os.PathLike, image_size: int | None = None, opset: int = ONNX_OPSET
) -> Path:
    """Write the source-only share of ``model``'s generator to ``path`` (``.onnx``); returns the path."""
    outputs = ["features", "motion_image"] if model.generator.dense_motion_network is not None else ["features"]
    axes = {name: {0: "batch"} for name in ["source", *outputs]}
    graph = _SourceEncoderGraph(model.generator)
    return _export(graph, (_example_image(model, 2, image_size),), path, ["source"], outputs, axes, opset)


def export_generator_from_encoding(
    model: FirstOrderModel, path: str | os.PathLike, image_size: int | None = None, opset: int = ONNX_OPSET
) -> Path:
    """Write the per-frame share of ``model``'s generator to ``path`` (``.onnx``); returns the path."""
    source = _example_image(model, 1, image_size)
    with torch.no_grad():
        encoding = model.generator.encode_source(source)
    keypoints, names, axes = _example_keypoints(model, source, image_size)
    motion = [] if encoding.motion_image is None else [encoding.motion_image]
    inputs = (source, encoding.features, *motion, *keypoints)
    input_names = ["image", "features", *(["motion_image"] if motion else []), *names]
    return _export(_EncodedGeneratorGraph(model.generator), inputs, path, input_names, ["prediction"], axes, opset)


def export_onnx(
    model: FirstOrderModel, directory: str | os.PathLike, image_size: int | None = None, opset: int = ONNX_OPSET
) -> list[Path]:
    """Write the four graphs of :data:`GRAPH_FILES` into ``directory``; returns their paths, in that order."""
    check_outputs([Output("directory", directory, files=GRAPH_FILES)])
    directory = Path(directory)
    writers = (export_keypoint_detector, export_generator, export_source_encoder, export_generator_from_encoding)
    return [write(model, directory / name, image_size, opset) for write, name in zip(writers, GRAPH_FILES)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fomm-nb export``."""
    parser.add_argument("--model", default="demo", help="model name (see 'fomm-nb models') or a .pth.tar file")
    parser.add_argument("--config", help="config name or YAML file (for a checkpoint that stores none)")
    parser.add_argument("--out", default="onnx", help="folder for the graphs: " + ", ".join(GRAPH_FILES))
    parser.add_argument("--image-size", type=int_option(1), help="the graphs' image size (default: the model's)")
    # below MIN_OPSET, export_onnx says why (no GridSample)
    parser.add_argument("--opset", type=int_option(1, MAX_OPSET), default=ONNX_OPSET,
                        help=f"ONNX opset ({MIN_OPSET} to {MAX_OPSET})")


def run(args: argparse.Namespace) -> None:
    """``fomm-nb export``: write the model's graphs and say where."""
    from .hub import get_model

    check_outputs([Output("--out", args.out, files=GRAPH_FILES)], {"--model": args.model, "--config": args.config})
    model = get_model(args.model, config=args.config, device="cpu")
    for path in export_onnx(model, args.out, image_size=args.image_size, opset=args.opset):
        print(f"wrote {path}")
