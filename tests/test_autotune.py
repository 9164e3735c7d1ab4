"""The autotuner: every path paints the same frames, its cache follows its key, a damaged cache is re-made;
--explain-speed names every layer and its fastest path; workers and batch size are timed within the memory check."""

import json
import re

import numpy as np
import pytest
import torch

import fomm_nb
import fomm_nb.autotune as autotune
from fomm_nb import engine_settings
from fomm_nb import arguments
from fomm_nb.animate import AnimationEngine, inference_network
from fomm_nb.arguments import BYTES_PER_PIXEL
from fomm_nb.cli import main
from fomm_nb.config import DEFAULT_BATCH_SIZE
from fomm_nb.hub import get_model
from fomm_nb.winograd import WinogradConv2d
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


@pytest.mark.parametrize("which", [0, 1, 2, 3, 4, 5, 6], ids=["winograd, sub-pixel", "direct, upsampled", "im2col, upsampled",
                                                       "direct-nchw, upsampled", "winograd-f6, upsampled",
                                                       "winograd-fused, upsampled", "winograd-f6-fused, upsampled"])
def test_each_forced_path_paints_the_plain_engines_frames(wide, which):
    source, driving = smooth_frames(64, 5)
    engine = AnimationEngine(wide, batch_size=4)
    layers = autotune.tunable_layers(engine.network)
    assert {type(module) for module in layers.values()} == set(autotune.PATHS), "both layer types are tuned"
    plain = frames_with(engine, source, driving)
    forced = frames_with(engine, source, driving, lambda module: autotune.PATHS[type(module)][:which + 1][-1])
    assert np.abs(forced - plain).max() <= PATH_TOLERANCE
    frames_with(engine, source, driving)  # leave the shared inference copy as it was


def test_autotuned_engine_paints_the_plain_engines_frames(wide, home):
    source, driving = smooth_frames(64, 5)
    engine = AnimationEngine(wide, batch_size=4)
    plain = frames_with(engine, source, driving)
    engine.set_source(source)
    choices = autotune.autotune(engine).choices
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
    assert list(cache) == [first.key] and not first.cached
    timed = []
    real_time_layer = autotune._time_layer
    monkeypatch.setattr(autotune, "_time_layer", lambda *args: timed.append(args) or real_time_layer(*args))
    again = autotune.autotune(engine)
    assert again.cached and again.layers == first.layers and timed == [], "a cached key is not timed again"
    monkeypatch.setattr(autotune, "cpu_description", lambda: ("another CPU", ""))
    autotune.autotune(engine)
    assert timed, "a new CPU is timed again"
    assert len(json.loads((home / autotune.CACHE_FILE).read_text())) == 2, "both machines' choices are kept"
    timed.clear()
    monkeypatch.setattr(autotune, "PATHS_REVISION", autotune.PATHS_REVISION + 1)
    autotune.autotune(engine)
    assert timed, "layers tuned with an older revision of the paths' code are timed again"
    timed.clear()
    monkeypatch.setattr(autotune.fused_transforms, "build", lambda: "fused_transforms-another.so")
    autotune.autotune(engine)
    assert timed, "layers tuned with another build of the fused transforms (its C changed) are timed again"


def test_a_damaged_cache_is_ignored_with_a_warning(wide, home):
    (home / autotune.CACHE_FILE).write_text('{"torch 2 | half a file')
    engine = AnimationEngine(wide, batch_size=2)
    engine.set_source(smooth_frames(64, 1)[0])
    with pytest.warns(UserWarning, match="autotune.json: not a tuning cache"):
        tuning = autotune.autotune(engine)
    assert list(json.loads((home / autotune.CACHE_FILE).read_text())) == [tuning.key]
    assert "not a tuning cache" in tuning.explain(), "the printout says so too"


# The printout (--explain-speed), the bundled model's exactness on the chosen paths, the workers and the batch size.

@pytest.fixture(scope="module")
def bundled():
    model = get_model("demo", device="cpu")
    yield model
    for module in autotune.tunable_layers(inference_network(model)).values():
        module.path = None  # the shared inference copy back on its built-in rule


@pytest.fixture
def quick(monkeypatch):
    """Batches of 1 and 2 only: the same choice to make, in less time."""
    monkeypatch.setattr(autotune, "BATCH_SIZES", (1, 2))


def printed_layers(text):
    """``{layer name: ({path: ms}, kept)}`` from the layer lines of :meth:`Tuning.explain`."""
    layers = {}
    for line in text.splitlines():
        if " -> " in line:
            timed, kept = line.split(" -> ")
            layers[line.split()[0]] = ({path: float(ms) for path, ms in re.findall(r"(\S+) ([\d.]+) ms", timed)},
                                       kept.split(":")[0])
    return layers


@pytest.fixture(scope="module")
def tuned(bundled, tmp_path_factory):
    """``(engine, tuning, source)``: the bundled model tuned (batches 1 and 2), cached in a folder of its own."""
    source = smooth_frames(64, 1)[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FOMM_NB_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setattr(autotune, "BATCH_SIZES", (1, 2))
        return (*autotune.tune_engine(bundled, source), source)


def test_explain_speed_names_every_tuned_layer_and_keeps_the_fastest(tuned):
    engine, tuning, _ = tuned
    text = tuning.explain()
    assert text.splitlines()[0] == f"autotune cache: {tuning.cache}" and tuning.cache.name == autotune.CACHE_FILE
    assert all(part in tuning.key for part in (torch.__version__, autotune.cpu_description()[0],
                                              torch.backends.cpu.get_cpu_capability()))
    assert tuning.key in text and tuning.engine_key in text
    printed = printed_layers(text)
    assert set(printed) == set(autotune.tunable_layers(engine.network)) == set(tuning.layers)
    for name, (timed, kept) in printed.items():
        layer = tuning.layers[name]
        assert set(timed) == set(layer.seconds) and kept == layer.kept == engine.network.get_submodule(name).path
        assert layer.seconds[kept] == min(layer.seconds.values()), f"{name}: kept the fastest timed"
        assert timed[kept] == min(timed.values()), f"{name}: the printout shows it"
    settings = tuning.engine
    assert (engine.workers, engine.batch_size) == (settings.workers, settings.batch_size)
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"  # "1 worker" when one is kept
    assert f"engine: {workers}, batch {settings.batch_size}: {settings.reason}" in text


def test_the_tuned_engine_paints_the_published_numerics(bundled, tuned):
    engine, _, source = tuned
    driving = smooth_frames(64, 5)[1]
    engine.kp_driving_initial = None
    plain = AnimationEngine(bundled, optimize=False)  # the model as published, no inference copy
    plain.set_source(source)
    assert np.abs(np.stack(list(engine.stream(driving))) - np.stack(list(plain.stream(driving)))).max() <= 1e-4


def test_the_least_memory_of_the_ties_is_kept():
    seconds = {(1, 1): 10.0, (1, 2): 6.0, (2, 2): 5.1, (2, 4): 5.0, (2, 8): 4.95}  # per frame
    assert engine_settings.pick(seconds, lambda batch: True) == (2, 2), "5.1 is within 5% of 4.95: the smallest batch"
    assert engine_settings.pick({**seconds, (1, 4): 5.19}, lambda batch: True) == (1, 4), "then the fewest workers"
    assert engine_settings.pick(seconds, lambda batch: batch < 2) == (1, 1)
    assert engine_settings.pick(seconds, lambda batch: False) is None
    choice = engine_settings.EngineChoice(2, 2, seconds)
    assert choice.reason.startswith("the least memory within 5% of the fastest (2 workers, batch 8): 3.0% slower")


def test_only_the_batches_the_memory_check_lets_through_are_timed_and_cached(bundled, home, monkeypatch):
    per_frame = BYTES_PER_PIXEL * 64 * 64
    monkeypatch.setattr(arguments, "available_memory", lambda device: int(2.5 * per_frame))  # batches 1 and 2 fit
    source = smooth_frames(64, 1)[0]
    engine, tuning = autotune.tune_engine(bundled, source)
    workers = [count for count in autotune.WORKERS if count <= torch.get_num_threads()]
    assert set(tuning.engine.seconds) == {(count, batch) for count in workers for batch in (1, 2)}
    assert tuning.engine.refused == (4, 8) and "batch 4, 8: refused by the memory check" in tuning.explain()
    assert (engine.workers, engine.batch_size) == engine_settings.pick(tuning.engine.seconds, lambda batch: True,
                                                                 tuning.engine.peaks)
    monkeypatch.setattr(autotune, "_time_settings", lambda *args: pytest.fail("a cached setting was timed again"))
    again = autotune.tune_engine(bundled, source)[1]
    assert again.engine_cached and again.engine.seconds == tuning.engine.seconds
    monkeypatch.setattr(arguments, "available_memory", lambda device: int(1.5 * per_frame))  # now batch 1 only
    assert autotune.tune_engine(bundled, source)[0].batch_size == 1, "a cached batch that no longer fits is not used"


def test_the_engine_settings_are_timed_again_for_another_build_of_the_layers(bundled, home, quick, monkeypatch):
    source = smooth_frames(64, 1)[0]
    real_time_settings = autotune._time_settings
    autotune.tune_engine(bundled, source)
    monkeypatch.setattr(autotune, "_time_settings", lambda *args: pytest.fail("a cached setting was timed again"))
    assert autotune.tune_engine(bundled, source)[1].engine_cached
    timed = []
    monkeypatch.setattr(autotune, "_time_settings", lambda *args: timed.append(args) or real_time_settings(*args))
    monkeypatch.setattr(autotune.fused_transforms, "build", lambda: "fused_transforms-another.so")
    autotune.tune_engine(bundled, source)
    assert timed, "the workers and batch size were timed with the layers' older code: timed again"


def test_a_setting_that_takes_too_much_memory_is_not_kept_however_fast():
    peaks = {(1, 1): 180.0, (1, 4): 200.0, (1, 8): 250.0, (2, 8): 295.0}  # MB: vox-256 under AVX2, roughly
    seconds = {(1, 1): 0.47, (1, 4): 0.39, (1, 8): 0.37, (2, 8): 0.34}
    assert engine_settings.too_big(peaks) == {(1, 8), (2, 8)}, "over 1.25x and over 64 MB above batch 1's 180 MB"
    assert engine_settings.pick(seconds, lambda batch: True, peaks) == (1, 4)
    assert engine_settings.pick(seconds, lambda batch: True) == (2, 8), "without the trials' memory: the fastest"
    small = {(1, 1): 8.0, (1, 8): 40.0, (2, 8): 45.0}  # the bundled model: a few tens of MB are never too much
    assert engine_settings.too_big(small) == set()
    choice = engine_settings.EngineChoice(1, 4, seconds, peaks=peaks)
    assert choice.reason == ("the fastest within 1.25x the memory of batch 1 (2 workers, batch 8 took 295 MB): "
                             "14.7% slower per frame")


def test_the_trials_memory_is_measured_cached_and_explained(bundled, home, quick):
    engine, tuning = autotune.tune_engine(bundled, smooth_frames(64, 1)[0])
    assert set(tuning.engine.peaks) == set(tuning.engine.seconds), "every setting's trial memory, on Linux"
    assert all(mb >= 0 for mb in tuning.engine.peaks.values())
    cached = json.loads((home / autotune.CACHE_FILE).read_text())[tuning.engine_key]
    assert set(cached["peak_mb"]) == set(cached["seconds_per_frame"])
    assert "memory of each trial (MB above the level before it):" in tuning.explain()
    again = autotune.tune_engine(bundled, smooth_frames(64, 1)[0])[1]
    assert again.engine_cached and again.engine.peaks == tuning.engine.peaks


def test_given_settings_are_kept_and_not_timed(bundled, home, monkeypatch):
    monkeypatch.setattr(autotune, "_time_settings", lambda *args: pytest.fail("nothing to choose, nothing to time"))
    engine, tuning = autotune.tune_engine(bundled, smooth_frames(64, 1)[0], batch_size=3, workers=1)
    assert (engine.batch_size, engine.workers) == (3, 1) and "workers 1 given, batch 3 given" in tuning.engine.reason


def test_animate_explain_speed_prints_the_choices(media, home, quick, capsys):
    args = ["animate", "--source", str(media / "face.png"), "--driving", str(media / "talk.mp4"),
            "--out", str(media / "r.mp4"), "--explain-speed"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "autotuning the workers, the batch size and the layers on this machine" in err
    assert f"autotune cache: {home / autotune.CACHE_FILE}" in out and "wrote" in out
    network = inference_network(get_model("demo", device="cpu"))
    assert set(printed_layers(out)) == set(autotune.tunable_layers(network))
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "autotuning" not in err and "layers: each path's best time on the layer's input, read from the cache" in out
    assert main(args + ["--batch-size", "3", "--workers", "1"]) == 0
    assert "engine: 1 worker, batch 3: the only setting left, not timed (workers 1 given, batch 3 given)" in capsys.readouterr().out


def test_explain_speed_without_autotuning_is_refused(media, capsys):
    assert main(["animate", "--source", str(media / "face.png"), "--driving", str(media / "talk.mp4"),
                 "--no-autotune", "--explain-speed"]) == 2
    assert capsys.readouterr().err == "fomm-nb: error: --explain-speed explains the autotuner's choices: leave out --no-autotune\n"


def test_a_short_video_is_not_worth_timing_unless_the_timings_are_cached(bundled, home, quick, monkeypatch):
    source = smooth_frames(64, 1)[0]
    real_time_settings = autotune._time_settings
    monkeypatch.setattr(autotune, "_time_settings", lambda *args: pytest.fail("5 frames are not worth timing"))
    engine, tuning = autotune.tune_engine(bundled, source, frames=5)
    assert tuning.engine.reason.startswith("not timed: timing would animate about")
    assert (engine.batch_size, engine.workers) == (DEFAULT_BATCH_SIZE if DEFAULT_BATCH_SIZE in (1, 2) else 2, 2)
    monkeypatch.setattr(autotune, "_time_settings", real_time_settings)
    timed = autotune.tune_engine(bundled, source)[1].engine  # no frame count: timed, and cached
    engine, tuning = autotune.tune_engine(bundled, source, frames=5)
    assert tuning.engine_cached and (engine.workers, engine.batch_size) == (timed.workers, timed.batch_size)


def test_small_inputs_of_an_nchw_weight_take_im2col_and_paint_the_same():
    conv = torch.nn.Conv2d(16, 64, 3, padding=1).eval()  # stored NCHW, as the engine's deep, unfolded levels
    layer = WinogradConv2d(conv)
    x = torch.rand(2, 16, 4, 4).contiguous(memory_format=torch.channels_last)  # 32 output pixels <= 64 outputs
    assert layer.choose_path(*x.shape[:1], *x.shape[2:]) == "im2col"
    with torch.inference_mode():
        assert (layer(x) - conv(x)).abs().max() <= 1e-5
    layer.conv.weight.data = layer.conv.weight.data.contiguous(memory_format=torch.channels_last)
    assert layer.choose_path(2, 4, 4) == "direct", "a channels_last weight is read in place by oneDNN"


@pytest.mark.parametrize("chunk_tiles", [1, 5, 10**9])
def test_winograd_by_chunks_of_tile_rows_paints_the_same(chunk_tiles):
    conv = torch.nn.Conv2d(8, 4, 3, padding=1).eval()
    x = torch.rand(2, 8, 13, 22).contiguous(memory_format=torch.channels_last)  # 4 x 6 tiles, the last ones partial
    with torch.inference_mode():
        assert (WinogradConv2d(conv, min_tiles=1, chunk_tiles=chunk_tiles)(x) - conv(x)).abs().max() <= 1e-5
