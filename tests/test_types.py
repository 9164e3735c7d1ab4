"""Keypoints and outputs are typed, and still answer every dict call the published code makes."""

from collections.abc import Mapping

import pytest
import torch

from fomm_nb.hub import get_model
from fomm_nb.types import DenseMotion, GeneratorOutput, Keypoints


def test_keypoints_read_like_the_published_dict():
    value, jacobian = torch.zeros(1, 3, 2), torch.eye(2).expand(1, 3, 2, 2)
    kp = Keypoints(value)
    assert kp["value"] is value and "value" in kp and "jacobian" not in kp and "heatmap" not in kp
    assert dict(kp) == {"value": value} and list(kp.keys()) == ["value"] and len(kp) == 1
    assert kp.get("jacobian") is None and kp.get("jacobian", 5) == 5
    with pytest.raises(KeyError):
        kp["jacobian"]  # unset, as a dict without the key
    with pytest.raises(KeyError):
        kp["nonsense"]
    kp["jacobian"] = jacobian
    assert kp.jacobian is jacobian and "jacobian" in kp and {**kp}.keys() == {"value", "jacobian"}
    with pytest.raises(KeyError, match="no field 'values'"):
        kp["values"] = value  # a typo is an error, not a silent new key
    assert isinstance(kp, Mapping) and not isinstance(kp, dict)
    assert dict(kp.items()) == dict(zip(kp.keys(), kp.values()))


def test_the_model_returns_typed_outputs():
    model = get_model("demo", device="cpu")
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        kp = model.kp_detector(image)
        out = model.generator(image, kp_source=kp, kp_driving=kp)
        motion = model.generator.dense_motion_network(image, kp, kp)
    assert isinstance(kp, Keypoints) and kp.value.shape == (2, 10, 2) and kp.jacobian.shape == (2, 10, 2, 2)
    assert isinstance(out, GeneratorOutput) and isinstance(motion, DenseMotion)
    assert set(out) == {"prediction", "mask", "sparse_deformed", "occlusion_map", "deformation", "deformed"}
    assert torch.equal(out["prediction"], out.prediction)
    assert torch.allclose(motion.deformation, out.deformation, atol=1e-6)
