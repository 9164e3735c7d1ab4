"""The autotuner: every path paints the same frames, its cache follows its key, a damaged cache is re-made."""

import json

import numpy as np
import pytest
import torch

import fomm_nb
import fomm_nb.autotune as autotune
from fomm_nb.animate import AnimationEngine
from fomm_nb.config import ModelConfig
from test_optimize import WIDE_CONFIG, perturb_batchnorm, smooth_frames

#: Forced paths against the plain engine's: the same arithmetic up to Winograd's rounding.
PATH_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def wide():
    torch.manual_seed(0)
    return perturb_batchnorm(fomm_nb.load_model(ModelConfig.from_dict(WIDE_CONFIG, name="wide"), device="cpu"))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FOMM_NB_HOME", str(tmp_path))
    return tmp_path


def frames_with(engine, source, driving, force=None):
    """The engine's frames with every tunable layer forced to ``force(module)`` (``None``: the built-in rule)."""
    for module in autotune.tunable_layers(engine.network).values():
        module.path = force(module) if force else None
    engine.set_source(source)
    engine.kp_driving_initial = None
    return np.stack(list(engine.stream(driving)))


@pytest.mark.parametrize("which", [0, 1], ids=["winograd, sub-pixel", "direct, upsampled"])
def test_each_forced_path_paints_the_plain_engines_frames(wide, which):
    source, driving = smooth_frames(64, 5)
    engine = AnimationEngine(wide, batch_size=4)
    layers = autotune.tunable_layers(engine.network)
    assert {type(module) for module in layers.values()} == set(autotune.PATHS), "both layer types are tuned"
    plain = frames_with(engine, source, driving)
    forced = frames_with(engine, source, driving, lambda module: autotune.PATHS[type(module)][which])
    assert np.abs(forced - plain).max() <= PATH_TOLERANCE
    frames_with(engine, source, driving)  # leave the shared inference copy as it was


def test_autotuned_engine_paints_the_plain_engines_frames(wide, home):
    source, driving = smooth_frames(64, 5)
    engine = AnimationEngine(wide, batch_size=4)
    plain = frames_with(engine, source, driving)
    engine.set_source(source)
    choices = autotune.autotune(engine)
    assert set(choices) == set(autotune.tunable_layers(engine.network))
    assert all(choices[name] in autotune.PATHS[type(module)] for name, module in autotune.tunable_layers(engine.network).items())
    assert engine.kp_driving_initial is None, "tuning leaves the reference of relative motion unset"
    assert np.abs(np.stack(list(engine.stream(driving))) - plain).max() <= PATH_TOLERANCE
    assert all(line.split()[-1] == choices[line.split()[0]] for line in autotune.explain(engine).splitlines())


def test_the_cache_is_used_until_its_key_changes(wide, home, monkeypatch):
    engine = AnimationEngine(wide, batch_size=2)
    engine.set_source(smooth_frames(64, 1)[0])
    first = autotune.autotune(engine)
    cache = json.loads((home / autotune.CACHE_FILE).read_text())
    assert list(cache.values()) == [first]
    timed = []
    real_fastest = autotune._fastest
    monkeypatch.setattr(autotune, "_fastest", lambda *args: timed.append(args) or real_fastest(*args))
    assert autotune.autotune(engine) == first and timed == [], "a cached key is not timed again"
    monkeypatch.setattr(autotune, "_cpu_model", lambda: "another CPU")
    autotune.autotune(engine)
    assert timed, "a new CPU is timed again"
    assert len(json.loads((home / autotune.CACHE_FILE).read_text())) == 2, "both machines' choices are kept"


def test_a_damaged_cache_is_ignored_with_a_warning(wide, home):
    (home / autotune.CACHE_FILE).write_text('{"torch 2 | half a file')
    engine = AnimationEngine(wide, batch_size=2)
    engine.set_source(smooth_frames(64, 1)[0])
    with pytest.warns(UserWarning, match="autotune.json: not a tuning cache"):
        choices = autotune.autotune(engine)
    assert list(json.loads((home / autotune.CACHE_FILE).read_text()).values()) == [choices]
