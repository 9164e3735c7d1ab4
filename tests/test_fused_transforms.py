"""The fused Winograd transforms (C, built on first use): each equals its PyTorch form, the fused convolution equals
the direct one on every shape the engine meets, torch's OpenMP threads split the tiles without changing a number, the build is
cached and follows the ISA torch is told to use, and without a compiler the paths are not offered and say why."""

import warnings

import pytest
import torch
from torch import nn

import fomm_nb.autotune as autotune
from fomm_nb import fused_transforms
from fomm_nb.winograd import FUSED, WinogradConv2d, winograd_matrices


@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """A build of its own: an empty ``$FOMM_NB_HOME``, the loaded library forgotten before and after."""
    monkeypatch.setenv("FOMM_NB_HOME", str(tmp_path))
    fused_transforms._library.cache_clear()
    yield tmp_path
    fused_transforms._library.cache_clear()


def test_the_library_builds_here():
    assert fused_transforms.available(), "CI has a C compiler: the fused paths are tested, not skipped"
    assert fused_transforms.threaded(), "built with OpenMP: the tiles are shared among torch's threads"
    loaded = {line.split()[-1] for line in open("/proc/self/maps") if "libgomp" in line}
    assert len(loaded) == 1, f"one OpenMP runtime, torch's, not a second one beside it: {loaded}"


def padded_tiles(image, tile, alpha, top, left, rows, columns):
    """The ``(a, a, N, C)`` tiles of an ``(H, W, C)`` image, zeros outside, as PyTorch gathers them."""
    height, width, _ = image.shape
    below, right = rows * tile + alpha - height + top, columns * tile + alpha - width + left
    padded = torch.nn.functional.pad(image, (0, 0, -left, max(right, 0), -top, max(below, 0)))
    tiles = padded.unfold(0, alpha, tile).unfold(1, alpha, tile)[:rows, :columns]  # (rows, columns, C, a, a)
    return tiles.permute(3, 4, 0, 1, 2).reshape(alpha, alpha, rows * columns, -1)


@pytest.mark.parametrize("tile", [4, 6])
@pytest.mark.parametrize("channels", [16, 67])  # whole vectors; and 4 vectors plus 3 channels one at a time
def test_input_transform_is_b_transposed_d_b_of_each_tile(tile, channels):
    torch.manual_seed(0)
    a_t, _, b_t = (matrix.float() for matrix in winograd_matrices(tile, 3))
    alpha, rows, columns = tile + 2, 2, 3
    image = torch.randn(rows * tile, columns * tile - 1, channels)  # the last column of tiles runs past the image
    out = torch.empty(alpha * alpha, rows * columns, channels)
    fused_transforms.input_transform(image, out, -1, -1, columns, tile, b_t)
    tiles = padded_tiles(image, tile, alpha, -1, -1, rows, columns)
    expected = torch.einsum("ip,jq,pqnc->ijnc", b_t.double(), b_t.double(), tiles.double()).reshape(out.shape)
    assert (out.double() - expected).abs().max() < 1e-5 * expected.abs().max()


@pytest.mark.parametrize("tile", [4, 6])
@pytest.mark.parametrize("channels", [32, 19])
def test_output_transform_writes_each_tile_with_its_bias_where_it_goes(tile, channels):
    torch.manual_seed(1)
    a_t, _, _ = (matrix.float() for matrix in winograd_matrices(tile, 3))
    alpha, rows, columns = tile + 2, 2, 3
    products, bias = torch.randn(alpha * alpha, rows * columns, channels), torch.randn(channels)
    whole = torch.full((rows * tile + 1, columns * tile, channels), 7.0)  # one row past the chunk: left alone
    fused_transforms.output_transform(products, whole[: rows * tile], columns, a_t, bias)
    square = products.double().view(alpha, alpha, rows, columns, channels)
    expected = torch.einsum("ui,vj,ijrkc->rukvc", a_t.double(), a_t.double(), square) + bias.double()
    expected = expected.reshape(rows * tile, columns * tile, channels)
    assert (whole[: rows * tile].double() - expected).abs().max() < 1e-5 * expected.abs().max()
    assert bool((whole[rows * tile :] == 7.0).all()), "nothing is written past the chunk's rows"


@pytest.mark.parametrize("path", ["winograd-fused", "winograd-f6-fused"])
@pytest.mark.parametrize("in_channels, out_channels, kernel_size, padding, size, batch, bound", [
    (16, 8, 3, 1, (16, 16), 3, 1e-5),     # whole tiles
    (19, 37, 3, 1, (13, 18), 2, 1e-5),    # odd channels; tiles past the bottom and right edges
    (16, 16, 3, 0, (21, 12), 1, 1e-5),    # no padding
    (8, 8, 2, 1, (9, 11), 1, 1e-5),       # a 2x2 kernel: tile sides the C code does not specialise
    # The generator's bottleneck channels, several chunks. Rounding grows with the channels summed: the PyTorch
    # path's largest error here is 1.1e-5 of the outputs' range (F(4x4); F(6x6): 1.8e-5) over five seeds.
    (256, 256, 3, 1, (24, 24), 1, 3e-5),
])
def test_the_fused_convolution_equals_the_direct_one(path, in_channels, out_channels, kernel_size, padding, size,
                                                      batch, bound):
    torch.manual_seed(0)
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding)
    layer = WinogradConv2d(conv, min_tiles=1, chunk_tiles=8)  # chunks of a few tile rows: their seams are tested
    x = torch.randn(batch, in_channels, *size)
    with torch.no_grad():
        exact = nn.functional.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=padding)
        layer.path = path
        fused = layer(x).double()
        layer.path = path.removesuffix(FUSED)
        unfused = layer(x.contiguous(memory_format=torch.channels_last)).double()
    scale = exact.abs().max()
    assert fused.shape == exact.shape
    assert (fused - exact).abs().max() <= bound * scale
    rms = {name: (frames - exact).pow(2).mean().sqrt() for name, frames in [("fused", fused), ("unfused", unfused)]}
    assert rms["fused"] <= 1.1 * rms["unfused"], f"no less exact than the PyTorch path: {rms}"


def test_openmp_threads_split_the_tiles_and_change_no_number():
    torch.manual_seed(2)
    conv = nn.Conv2d(32, 32, 3, padding=1)
    layer = WinogradConv2d(conv, min_tiles=1)
    layer.path = "winograd-fused"
    x = torch.randn(1, 32, 40, 40)
    threads = torch.get_num_threads()
    try:
        results = {}
        for count in (2, 1):  # two first: its workspaces cannot hold a one-thread run's tiles
            torch.set_num_threads(count)
            with torch.no_grad():
                results[count] = layer(x)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        exact = conv(x)
    assert (results[2] - exact).abs().max() <= 1e-5 * exact.abs().max(), "every tile is done once"
    assert torch.equal(results[1], results[2])


def test_the_build_is_cached_under_fomm_nb_home(fresh_build, monkeypatch):
    assert fused_transforms.available()
    built = list((fresh_build / "native").glob("fused_transforms-*.so"))
    assert len(built) == 1
    fused_transforms._library.cache_clear()
    monkeypatch.setattr(fused_transforms.subprocess, "run", lambda *args, **kwargs: pytest.fail("built again"))
    assert fused_transforms.available(), "a second process loads the file it finds"


def test_the_build_follows_the_isa_torch_is_told_to_use(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert fused_transforms._isa_flags()[0] == ["-mavx2", "-mfma", "-fopenmp"]
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert fused_transforms._isa_flags() == [["-fopenmp"], []]
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    assert fused_transforms._isa_flags()[0] == ["-march=native", "-fopenmp"]
    assert fused_transforms._isa_flags()[-1] == [], "a compiler without OpenMP or these flags still builds it"


def test_without_a_compiler_the_fused_paths_are_not_offered_and_say_why(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", str(fresh_build / "no-such-compiler"))
    with pytest.warns(UserWarning, match="no C compiler"):
        assert not fused_transforms.available()
    layer = WinogradConv2d(nn.Conv2d(8, 8, 3, padding=1))
    assert not any(path.endswith(FUSED) for path in autotune._paths(layer, (1, 8, 32, 32)))
    layer.path = "winograd-fused"
    with pytest.raises(RuntimeError, match="could not be built here"), torch.no_grad():
        layer(torch.randn(1, 8, 32, 32))


def test_a_compiler_that_fails_is_a_warning_naming_the_file(fresh_build, monkeypatch):
    failing = fresh_build / "failing-cc"
    failing.write_text("#!/bin/sh\necho 'cc1: out of memory' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not fused_transforms.available()
    assert len(caught) == 1 and "could not build fused_transforms.c" in str(caught[0].message)
    assert "out of memory" in str(caught[0].message)
    assert not list((fresh_build / "native").glob("*.so")), "no partial library is left behind"


def test_the_built_in_rule_runs_winograd_fused_where_it_can(monkeypatch):
    layer = WinogradConv2d(nn.Conv2d(8, 8, 3, padding=1))  # path None: the built-in rule
    ran = []
    tiling = layer.tilings["winograd"]
    for convolve in ("convolve", "convolve_fused"):
        real = getattr(tiling, convolve)
        monkeypatch.setattr(tiling, convolve, lambda *args, real=real, name=convolve: ran.append(name) or real(*args))
    x = torch.randn(1, 8, 32, 32)
    with torch.no_grad():
        layer(x)
        assert set(ran) == {"convolve_fused"}, "fused on a float32 CPU input, the library built"
        ran.clear()
        monkeypatch.setattr(fused_transforms, "available", lambda: False)
        layer(x)
        assert set(ran) == {"convolve"}, "the PyTorch transforms where the library could not be built"
