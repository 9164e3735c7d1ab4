"""Shared fixtures: the golden data of the published implementation (tests/fixtures/official)."""

from pathlib import Path

import numpy as np
import pytest
import torch

OFFICIAL = Path(__file__).parent / "fixtures" / "official"
TINY_MODELS = ("tiny-vox", "tiny-mgif")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)


def official_path(name):
    return OFFICIAL / name


def load_golden(name):
    """The reference arrays of ``name`` (``tiny-vox`` or ``tiny-mgif``) as torch tensors."""
    with np.load(OFFICIAL / f"{name}.npz") as arrays:
        return {key: torch.from_numpy(arrays[key]) for key in arrays.files}


def golden_kp(golden, prefix, t=None):
    suffix = "" if t is None else f"_{t}"
    return {"value": golden[f"{prefix}_value{suffix}"], "jacobian": golden[f"{prefix}_jacobian{suffix}"]}
