"""ONNX export: onnxruntime runs the exported graphs and matches torch within 1e-4."""

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import fomm_nb
from conftest import OFFICIAL, TINY_MODELS, load_golden
from fomm_nb.cli import main
from fomm_nb.export import export_onnx

TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=TINY_MODELS)
def exported(request, tmp_path_factory):
    name = request.param
    model = fomm_nb.load_model(OFFICIAL / f"{name}.yaml", OFFICIAL / f"{name}.pth.tar", device="cpu")
    golden = load_golden(name)
    paths = export_onnx(model, tmp_path_factory.mktemp(name), image_size=golden["source"].shape[-1])
    sessions = [onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in paths]
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
    name, model, _, (detector, generator), golden = exported
    source, driving = golden["source"], golden["driving"]  # batch 1 and batch 2 (the export used 2: shapes vary)
    driving = torch.cat([driving, driving.flip(-1)])  # batch 4: the batch axis is dynamic
    kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
    value, jacobian = detector.run(None, {"image": driving.numpy()})
    assert np.abs(value - kp_driving["value"].numpy()).max() <= TOLERANCE, f"{name} keypoints"
    assert np.abs(jacobian - kp_driving["jacobian"].numpy()).max() <= TOLERANCE, f"{name} jacobians"

    feed = {"source": source.numpy()}
    feed.update({f"kp_source_{key}": tensor.numpy() for key, tensor in kp_source.items()})
    feed.update({f"kp_driving_{key}": tensor.numpy() for key, tensor in kp_driving.items()})
    (prediction,) = generator.run(None, feed)
    expected = model.generator(source, kp_source=kp_source, kp_driving=kp_driving)["prediction"].numpy()
    assert prediction.shape == expected.shape == (4, *source.shape[1:])
    assert np.abs(prediction - expected).max() <= TOLERANCE, f"{name} prediction"


def test_export_command_writes_both_graphs_of_the_bundled_model(tmp_path, capsys):
    assert main(["export", "--model", "demo", "--out", str(tmp_path / "onnx")]) == 0
    paths = [tmp_path / "onnx" / name for name in ("kp_detector.onnx", "generator.onnx")]
    assert capsys.readouterr().out.splitlines() == [f"wrote {path}" for path in paths]
    detector = onnxruntime.InferenceSession(str(paths[0]), providers=["CPUExecutionProvider"])
    value, jacobian = detector.run(None, {"image": np.zeros((3, 3, 64, 64), np.float32)})
    assert value.shape == (3, 10, 2) and jacobian.shape == (3, 10, 2, 2)
    assert sorted(path.name for path in (tmp_path / "onnx").iterdir()) == ["generator.onnx", "kp_detector.onnx"]


def test_an_opset_without_grid_sample_is_refused_and_nothing_is_written(tmp_path, capsys):
    assert main(["export", "--model", "demo", "--out", str(tmp_path / "onnx"), "--opset", "15"]) == 2
    error = capsys.readouterr().err
    assert error.strip() == "fomm-nb: error: opset 15 has no GridSample, which the generator needs: use 16 or later"
    assert not (tmp_path / "onnx").exists()
