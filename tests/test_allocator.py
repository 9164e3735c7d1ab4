"""The engine has glibc return large freed blocks at once (peak memory), once per process, unless the user chose."""

import importlib

import numpy as np
import pytest

from fomm_nb.hub import get_model

animate = importlib.import_module("fomm_nb.animate")  # the module: fomm_nb.animate is also the function
runtime = importlib.import_module("fomm_nb.runtime")


class FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, option, value):
        self.calls.append((option, value))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(runtime, "_allocator_set", False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return fake


def test_the_first_cpu_engine_sets_the_mmap_threshold_once(libc):
    model = get_model("demo", device="cpu")
    animate.AnimationEngine(model).set_source(np.zeros((64, 64, 3), np.float32))
    animate.AnimationEngine(model)
    assert libc.calls == [(-3, runtime.MMAP_THRESHOLD)]  # M_MMAP_THRESHOLD, 4 MiB


def test_the_users_setting_wins(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert runtime.release_large_blocks() is False and libc.calls == []
