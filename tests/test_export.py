"""ONNX export: onnxruntime runs the exported graphs and matches torch within 1e-4.

The split graphs (``source_encoder.onnx`` then ``generator_from_encoding.onnx``)
are checked against ``generator.onnx`` and torch on the official tiny models,
and against torch on two architectures they must also handle: no Jacobians nor
occlusion, and no dense motion network.
"""

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import fomm_nb
from conftest import OFFICIAL, TINY_MODELS, load_golden
from fomm_nb.cli import main
from fomm_nb.config import ModelConfig, load_config
from fomm_nb.export import GRAPH_FILES, export_onnx
from fomm_nb.model import build_model

TOLERANCE = 1e-4
#: Architectures beside the official ones: changes to tiny-vox's common and generator params, and the
#: inputs of their generator_from_encoding.onnx (the exporter drops those the prediction does not depend on).
VARIANTS = {
    "no-jacobian-no-occlusion-full-size-motion": (
        {"estimate_jacobian": False},
        {"estimate_occlusion_map": False, "dense_motion_params": {"scale_factor": 1}},
        ["features", "motion_image", "kp_source_value", "kp_driving_value"],
    ),
    "no-dense-motion": ({}, {"dense_motion_params": None}, ["features", "kp_driving_value"]),
}


def sessions_of(paths):
    return [onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in paths]


def input_names(session):
    return [graph_input.name for graph_input in session.get_inputs()]


def keypoint_feed(kp_source, kp_driving):
    """The keypoint inputs of the generator graphs: ``{"kp_source_value": array, ...}``."""
    feed = {f"kp_source_{key}": tensor.numpy() for key, tensor in kp_source.items()}
    feed.update({f"kp_driving_{key}": tensor.numpy() for key, tensor in kp_driving.items()})
    return feed


def spread_keypoints(batch, like):
    """Driving keypoints ``(batch, K, 2)`` (and Jacobians if ``like`` has them) far from the source's.

    The golden frames move the keypoints little, so a graph that confuses
    source and driving keypoints could still come within the tolerance.
    """
    generator = torch.Generator().manual_seed(0)
    num_kp = like["value"].shape[1]
    kp = {"value": torch.rand(batch, num_kp, 2, generator=generator) * 1.6 - 0.8}
    if "jacobian" in like:
        kp["jacobian"] = torch.eye(2) + 0.3 * torch.randn(batch, num_kp, 2, 2, generator=generator)
    return kp


def split_prediction(encoder, generator, source, kp_source, kp_driving):
    """The prediction of the split graphs, fed only the inputs the per-frame graph lists."""
    names = [output.name for output in encoder.get_outputs()]
    encoding = dict(zip(names, encoder.run(None, {"source": source.numpy()})))
    feed = {**encoding, **keypoint_feed(kp_source, kp_driving)}
    (prediction,) = generator.run(None, {name: feed[name] for name in input_names(generator)})
    return encoding, prediction


@pytest.fixture(scope="module", params=TINY_MODELS)
def exported(request, tmp_path_factory):
    name = request.param
    model = fomm_nb.load_model(OFFICIAL / f"{name}.yaml", OFFICIAL / f"{name}.pth.tar", device="cpu")
    golden = load_golden(name)
    paths = export_onnx(model, tmp_path_factory.mktemp(name), image_size=golden["source"].shape[-1])
    sessions = sessions_of(paths)
    return name, model, paths, sessions, golden


def test_graphs_use_an_opset_with_grid_sample(exported):
    _, _, paths, _, _ = exported
    for path in paths:
        graph = onnx.load(str(path))
        onnx.checker.check_model(graph)
        assert max(opset.version for opset in graph.opset_import if opset.domain in ("", "ai.onnx")) >= 16
    assert any(node.op_type == "GridSample" for node in onnx.load(str(paths[1])).graph.node)


@torch.no_grad()
def test_onnx_runtime_matches_torch(exported):
    name, model, _, (detector, generator, *_), golden = exported
    source, driving = golden["source"], golden["driving"]  # batch 1 and batch 2 (the export used 2: shapes vary)
    driving = torch.cat([driving, driving.flip(-1)])  # batch 4: the batch axis is dynamic
    kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
    value, jacobian = detector.run(None, {"image": driving.numpy()})
    assert np.abs(value - kp_driving["value"].numpy()).max() <= TOLERANCE, f"{name} keypoints"
    assert np.abs(jacobian - kp_driving["jacobian"].numpy()).max() <= TOLERANCE, f"{name} jacobians"

    (prediction,) = generator.run(None, {"source": source.numpy(), **keypoint_feed(kp_source, kp_driving)})
    expected = model.generator(source, kp_source=kp_source, kp_driving=kp_driving)["prediction"].numpy()
    assert prediction.shape == expected.shape == (4, *source.shape[1:])
    assert np.abs(prediction - expected).max() <= TOLERANCE, f"{name} prediction"


@torch.no_grad()
def test_the_split_graphs_give_the_whole_generators_prediction(exported):
    name, model, _, (_, whole, encoder, generator), golden = exported
    source = golden["source"]
    kp_source = model.kp_detector(source)
    kp_driving = spread_keypoints(4, kp_source)
    assert input_names(generator) == [
        "features", "motion_image", "kp_source_value", "kp_source_jacobian", "kp_driving_value", "kp_driving_jacobian"]
    encoding, prediction = split_prediction(encoder, generator, source, kp_source, kp_driving)
    expected = model.generator.encode_source(source)
    assert np.abs(encoding["features"] - expected.features.numpy()).max() <= TOLERANCE, f"{name} features"
    assert np.abs(encoding["motion_image"] - expected.motion_image.numpy()).max() <= TOLERANCE, f"{name} motion image"
    (whole_prediction,) = whole.run(None, {"source": source.numpy(), **keypoint_feed(kp_source, kp_driving)})
    torch_prediction = model.generator(source, kp_source=kp_source, kp_driving=kp_driving)["prediction"].numpy()
    assert prediction.shape == torch_prediction.shape == (4, *source.shape[1:])
    assert np.abs(prediction - whole_prediction).max() <= TOLERANCE, f"{name}: split graphs vs generator.onnx"
    assert np.abs(prediction - torch_prediction).max() <= TOLERANCE, f"{name}: split graphs vs torch"


@pytest.mark.parametrize("variant", VARIANTS)
@torch.no_grad()
def test_the_split_graphs_handle_models_without_jacobians_occlusion_or_dense_motion(variant, tmp_path):
    common, generator_params, inputs = VARIANTS[variant]
    document = load_config(OFFICIAL / "tiny-vox.yaml").to_dict()
    document["model_params"]["common_params"].update(common)
    for key, value in generator_params.items():
        section = document["model_params"]["generator_params"]
        section[key] = {**section[key], **value} if isinstance(value, dict) else value
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(document, variant))
    _, _, encoder, generator = sessions_of(export_onnx(model, tmp_path, image_size=128))
    assert input_names(generator) == inputs
    source = torch.rand(1, 3, 128, 128)
    kp_source = model.kp_detector(source)
    kp_driving = spread_keypoints(3, kp_source)
    encoding, prediction = split_prediction(encoder, generator, source, kp_source, kp_driving)
    dense = model.generator.dense_motion_network is not None
    assert list(encoding) == (["features", "motion_image"] if dense else ["features"])
    expected = model.generator(source, kp_source=kp_source, kp_driving=kp_driving)["prediction"].numpy()
    assert prediction.shape == expected.shape == (3, 3, 128, 128)
    assert np.abs(prediction - expected).max() <= TOLERANCE


def test_export_command_writes_every_graph_of_the_bundled_model(tmp_path, capsys):
    assert main(["export", "--model", "demo", "--out", str(tmp_path / "onnx")]) == 0
    paths = [tmp_path / "onnx" / name for name in GRAPH_FILES]
    assert capsys.readouterr().out.splitlines() == [f"wrote {path}" for path in paths]
    detector = onnxruntime.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"])
    value, jacobian = detector.run(None, {"image": np.zeros((3, 3, 64, 64), np.float32)})
    assert value.shape == (3, 10, 2) and jacobian.shape == (3, 10, 2, 2)
    assert sorted(path.name for path in (tmp_path / "onnx").iterdir()) == sorted(GRAPH_FILES)


def test_an_opset_without_grid_sample_is_refused_and_nothing_is_written(tmp_path, capsys):
    assert main(["export", "--model", "demo", "--out", str(tmp_path / "onnx"), "--opset", "15"]) == 2
    error = capsys.readouterr().err
    assert error.strip() == "fomm-nb: error: opset 15 has no GridSample, which the generator needs: use 16 or later"
    assert not (tmp_path / "onnx").exists()
