"""Inference transforms compute the same frames: folding, phase up blocks, Winograd, the engine, autocast."""

import numpy as np
import pytest
import torch
from torch import nn

import fomm_nb
from conftest import OFFICIAL, TINY_MODELS, load_golden
from fomm_nb.animate import AnimationEngine, inference_network
from fomm_nb.config import ModelConfig
from fomm_nb.modules.blocks import ResBlock2d, UpBlock2d
from fomm_nb.optimize import UpsampledConvReLU, optimize_for_inference, to_channels_last
from fomm_nb.winograd import WinogradConv2d, winograd_matrices

FOLDED_TOLERANCE = 1e-5
ENGINE_TOLERANCE = 1e-4
#: bfloat16 autocast of the generator on CPU: predictions within 2e-2 of float32 (measured: 2e-3 on the
#: fixtures, 1.4e-2 on the trained 64x64 bundled model), sampling grids within 1e-3 (they stay float32).
BFLOAT16_TOLERANCE = {"prediction": 2e-2, "deformation": 1e-3}

#: A 64x64 model whose residual bottleneck (128 channels at 16x16) runs as Winograd convolutions.
WIDE_CONFIG = {
    "dataset_params": {"frame_shape": [64, 64, 3]},
    "model_params": {
        "common_params": {"num_kp": 5, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {
            "temperature": 0.1, "block_expansion": 8, "max_features": 32, "scale_factor": 0.5, "num_blocks": 3,
        },
        "generator_params": {
            "block_expansion": 32, "max_features": 128, "num_down_blocks": 2, "num_bottleneck_blocks": 2,
            "estimate_occlusion_map": True,
            "dense_motion_params": {"block_expansion": 8, "max_features": 32, "num_blocks": 3, "scale_factor": 0.5},
        },
    },
}


def perturb_batchnorm(model, seed=0):
    """Give every BatchNorm non-trivial statistics and affine parameters, so folding them is tested."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) - 0.5)
    return model


def assert_close(actual, expected, tolerance, what):
    error = (actual.float() - expected).abs().max().item()
    assert error <= tolerance, f"{what}: max abs error {error:.2e} > {tolerance:.0e}"


@pytest.fixture(scope="module", params=TINY_MODELS)
def tiny(request):
    model = fomm_nb.load_model(OFFICIAL / f"{request.param}.yaml", OFFICIAL / f"{request.param}.pth.tar", device="cpu")
    return request.param, perturb_batchnorm(model), load_golden(request.param)


@pytest.fixture(scope="module")
def wide():
    torch.manual_seed(0)
    return perturb_batchnorm(fomm_nb.load_model(ModelConfig.from_dict(WIDE_CONFIG, name="wide"), device="cpu"))


def smooth_frames(size, count):
    """A source and ``count`` driving frames ``(H, W, 3)``: a colour gradient with a moving bright spot."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    base = np.stack([xx, yy, 1 - xx], axis=-1) * 0.6

    def frame(t):
        spot = np.exp(-((xx - 0.5 - 0.05 * t) ** 2 + (yy - 0.4) ** 2) / 0.02)[..., None]
        return np.clip(base + 0.4 * spot, 0, 1).astype(np.float32)

    return frame(-2), np.stack([frame(t) for t in range(count)])


@torch.no_grad()
def reference_frames(model, source, driving):
    """The published per-frame loop: batch 1, the source re-encoded for every frame."""
    as_tensor = lambda image: torch.from_numpy(image).permute(2, 0, 1)[None]
    kp_source, kp_initial = model.kp_detector(as_tensor(source)), model.kp_detector(as_tensor(driving[0]))
    frames = []
    for image in driving:
        kp_norm = fomm_nb.normalize_kp(kp_source, model.kp_detector(as_tensor(image)), kp_initial)
        frames.append(model.generator(as_tensor(source), kp_source=kp_source, kp_driving=kp_norm)["prediction"][0])
    return torch.stack(frames).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def test_folded_model_equals_the_model(tiny):
    name, model, golden = tiny
    fast = optimize_for_inference(model)
    remaining = [m for m in fast.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(remaining) == sum(isinstance(m, ResBlock2d) for m in model.modules()), "only ResBlock norm1 stays"
    assert not any(isinstance(m, UpBlock2d) for m in fast.modules())
    source, driving = golden["source"], golden["driving"]
    kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
    fast_kp = fast.kp_detector(to_channels_last(driving))
    for key in kp_driving:
        assert_close(fast_kp[key], kp_driving[key], FOLDED_TOLERANCE, f"{name} keypoint {key}")
    expected = model.generator(source.expand(len(driving), -1, -1, -1), kp_driving=kp_driving, kp_source=kp_source)
    actual = fast.generator(to_channels_last(source).expand(len(driving), -1, -1, -1), kp_source, kp_driving)
    for key in expected:
        # The golden source is noise: warping it turns a 1e-7 change of a coordinate into up to 1e-4.
        tolerance = ENGINE_TOLERANCE if key == "deformed" else FOLDED_TOLERANCE
        assert_close(actual[key], expected[key], tolerance, f"{name} {key}")


@pytest.mark.parametrize("height, width, phases", [(4, 4, True), (9, 13, True), (3, 5, False), (1, 16, False)])
def test_phase_up_block_equals_upsampling_then_convolution(height, width, phases):
    block = perturb_batchnorm(UpBlock2d(6, 4)).eval()
    fast = UpsampledConvReLU(block)
    x = torch.randn(2, 6, height, width)
    with torch.no_grad():
        assert_close(fast(x), block(x), FOLDED_TOLERANCE, "up block")
    assert (fast.weight is not None) == phases, "the phase kernel serves inputs of 4 pixels a side or more"


@pytest.mark.parametrize("tile, kernel_size", [(2, 3), (4, 3), (4, 2), (2, 2)])
def test_winograd_matrices_compute_a_correlation(tile, kernel_size):
    a_t, g, b_t = winograd_matrices(tile, kernel_size)
    d = torch.randn(tile + kernel_size - 1, dtype=torch.float64)
    w = torch.randn(kernel_size, dtype=torch.float64)
    direct = torch.stack([d[i : i + kernel_size] @ w for i in range(tile)])
    assert torch.allclose(a_t @ ((g @ w) * (b_t @ d)), direct, atol=1e-12)


@pytest.mark.parametrize("kernel_size, padding, size", [(3, 1, (16, 16)), (3, 1, (13, 18)), (3, 0, (12, 9)), (2, 1, (9, 11))])
def test_winograd_convolution_equals_the_direct_one(kernel_size, padding, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 8, kernel_size, padding=padding)
    x = torch.randn(3, 16, *size)
    with torch.no_grad():
        expected = conv(x)
        actual = WinogradConv2d(conv, min_tiles=1)(x)
    assert actual.shape == expected.shape
    assert_close(actual, expected, 1e-5 * expected.abs().max().item(), "winograd")


def test_winograd_leaves_small_images_to_the_direct_convolution(monkeypatch):
    winograd = WinogradConv2d(nn.Conv2d(8, 8, 3, padding=1), min_tiles=16)
    tiled = []
    for convolve in ("convolve", "convolve_fused"):  # fused where the C transforms were built, as here
        monkeypatch.setattr(winograd.tilings["winograd"], convolve, lambda *args: tiled.append(args[0].shape))
    with torch.no_grad():
        winograd(torch.randn(1, 8, 12, 12))  # 3 x 3 tiles
        assert tiled == []
        winograd(torch.randn(1, 8, 16, 16))  # 4 x 4 tiles
        assert len(tiled) == 1


def test_engine_with_every_optimisation_equals_the_per_frame_loop(wide):
    source, driving = smooth_frames(64, 6)
    expected = reference_frames(wide, source, driving)
    engine = AnimationEngine(wide, batch_size=4)
    used = set()
    for module in engine.network.modules():
        if isinstance(module, WinogradConv2d):
            module.register_forward_hook(lambda m, args, out: used.add(m) if m.uses_winograd(*args[0].shape[2:]) else None)
    engine.set_source(source)
    actual = np.stack(list(engine.stream(driving)))
    assert len(used) == 4, "the bottleneck's four convolutions run as Winograd convolutions"
    assert np.abs(actual - expected).max() <= ENGINE_TOLERANCE


def test_bfloat16_autocast_stays_close_to_float32():
    model = fomm_nb.load_model(OFFICIAL / "tiny-vox.yaml", OFFICIAL / "tiny-vox.pth.tar", device="cpu")
    source, driving = smooth_frames(128, 4)
    outputs = {}
    for precision in ("float32", "bfloat16"):
        engine = AnimationEngine(model, batch_size=4, precision=precision)
        engine.set_source(source)
        outputs[precision] = engine.animate_batch(driving, return_intermediates=True)
    assert outputs["bfloat16"]["prediction"].dtype == torch.float32
    for key, tolerance in BFLOAT16_TOLERANCE.items():
        assert_close(outputs["bfloat16"][key], outputs["float32"][key], tolerance, f"bfloat16 {key}")


def test_animate_keypoints_paints_what_animate_batch_paints(wide):
    source, driving = smooth_frames(64, 2)
    engine = AnimationEngine(wide, batch_size=2)
    engine.set_source(source)
    out = engine.animate_batch(driving, return_intermediates=True)
    again = engine.animate_keypoints({key: value.numpy() for key, value in out["kp_norm"].items()})
    assert torch.equal(again["prediction"], out["prediction"])
    assert set(again) == set(out) - {"kp_driving"}


def test_inference_network_is_made_once_until_the_weights_change(wide):
    network = inference_network(wide)
    assert inference_network(wide) is network
    with torch.no_grad():
        wide.generator.final.bias.add_(0.0)
    assert inference_network(wide) is not network


def test_engine_threads_apply_while_it_works_only(wide):
    before = torch.get_num_threads()
    engine = AnimationEngine(wide, num_threads=1)
    engine.set_source(smooth_frames(64, 1)[0])
    assert torch.get_num_threads() == before


def test_unknown_precision_is_a_clear_error(wide):
    with pytest.raises(fomm_nb.InputError, match="precision must be one of float32, bfloat16, float16"):
        AnimationEngine(wide, precision="int8")


def test_workers_split_the_batch_and_paint_the_same_frames(wide):
    source, driving = smooth_frames(64, 5)
    frames = {}
    for workers in (1, 2):
        engine = AnimationEngine(wide, batch_size=5, num_threads=2, workers=workers)
        engine.set_source(source)
        frames[workers] = engine.animate_batch(driving, return_intermediates=True)
    for key in ("prediction", "mask", "deformation"):
        assert_close(frames[2][key], frames[1][key], FOLDED_TOLERANCE, f"workers {key}")
    assert_close(frames[2]["kp_driving"]["value"], frames[1]["kp_driving"]["value"], FOLDED_TOLERANCE, "keypoints")


def test_workers_never_run_more_threads_than_asked(wide, monkeypatch):
    engine = AnimationEngine(wide, batch_size=4, num_threads=1, workers=2)
    engine.set_source(smooth_frames(64, 1)[0])
    monkeypatch.setattr(engine._pool, "map", None)  # one thread: the batch is not split
    engine.animate_batch(smooth_frames(64, 4)[1])


def test_compiled_engine_paints_the_frames_of_the_plain_one(wide):
    """``compile=True`` (torch.compile with inductor, which builds C++ with the system's gcc on CPU)."""
    source, driving = smooth_frames(64, 2)
    frames = {}
    for compiled in (False, True):
        engine = AnimationEngine(wide, batch_size=2, compile=compiled)
        engine.set_source(source)
        frames[compiled] = engine.animate_batch(driving)
    assert engine.workers == 1  # compiled code is never entered by two threads at once
    assert_close(frames[True], frames[False], FOLDED_TOLERANCE, "compiled prediction")


@pytest.mark.parametrize("make", [lambda block: UpsampledConvReLU(block), lambda block: WinogradConv2d(block.conv, min_tiles=1)],
                         ids=["phase up block", "winograd"])
def test_kernels_made_on_first_use_are_safe_when_two_workers_start_together(make):
    """Engine workers share one inference network: its first call may come from two threads at once."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    block = perturb_batchnorm(UpBlock2d(32, 16)).eval()
    x = torch.rand(1, 32, 24, 24)
    with torch.no_grad():
        for trial in range(30):
            module = make(block)
            expected = block(x) if isinstance(module, UpsampledConvReLU) else block.conv(x)
            start = Barrier(2)

            def first_call(_):
                start.wait()
                return module(x)

            with ThreadPoolExecutor(2) as pool:
                for out in pool.map(first_call, range(2)):
                    assert_close(out, expected, 1e-4, f"trial {trial}")


def test_phase_kernel_is_published_after_its_bias():
    """The race the test above samples, checked directly: a thread that sees the kernel must see its bias."""
    assignments = []

    class Recording(UpsampledConvReLU):
        def __setattr__(self, name, value):
            if name in ("weight", "bias") and value is not None:
                assignments.append(name)
            super().__setattr__(name, value)

    module = Recording(perturb_batchnorm(UpBlock2d(8, 4)).eval())
    with torch.no_grad():
        module(torch.rand(1, 8, 8, 8))
    assert assignments == ["bias", "weight"]


@torch.no_grad()
def test_inference_copy_shares_the_weights_it_does_not_change(wide, monkeypatch):
    """Big convolutions keep their BatchNorm and share their weights; the model keeps its own state.

    Planted: a plain deepcopy (no memo) fails the sharing assertion."""
    import fomm_nb.optimize as optimize

    monkeypatch.setattr(optimize, "FOLD_MAX_WEIGHTS", 4000)
    before = {name: (p.data_ptr(), p.requires_grad, p.stride()) for name, p in wide.named_parameters()}
    fast = optimize_for_inference(wide)
    assert {name: (p.data_ptr(), p.requires_grad, p.stride()) for name, p in wide.named_parameters()} == before
    big = [name for name, p in wide.named_parameters() if p.dim() == 4 and p.numel() > 4000]
    shared = {p.data_ptr() for p in fast.parameters()}
    assert big and all(before[name][0] in shared for name in big), "unfolded weights are shared, not copied"
    assert not any(p.requires_grad for p in fast.parameters())
    source, driving = smooth_frames(64, 2)
    image = torch.from_numpy(driving).permute(0, 3, 1, 2)
    assert_close(fast.kp_detector(to_channels_last(image))["value"], wide.kp_detector(image)["value"], FOLDED_TOLERANCE, "kp")
