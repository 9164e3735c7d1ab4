"""Winograd's input and output transforms fused with the memory passes around them, in C.

:class:`~fomm_nb.winograd.WinogradConv2d`'s PyTorch path pads a chunk of
tile rows into a buffer, gathers its tiles into a matrix, transforms them
with one GEMM, and after the main product transforms the result with another
GEMM, scatters the tiles into the output and adds the bias: five passes over
memory around the two transforms. The ``"-fused"`` paths do each side in one
pass: :func:`input_transform` reads each tile where it lies in the image (zero
outside it) and writes its transform; :func:`output_transform` transforms each
tile of products and writes it, bias added, where it goes in the output. Only
the batched product between them is left to PyTorch's BLAS.

PyTorch has no such kernel, so this module compiles ``fused_transforms.c``
with the machine's C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) on
first use, for the instruction set torch uses (``-march=native``, or AVX2 when
``ATEN_CPU_CAPABILITY=avx2``), into ``native/`` under ``$FOMM_NB_HOME`` or
the user's cache (``~/.cache/fomm-nb``), and loads it with :mod:`ctypes`;
about a second, once per machine. Without a compiler :func:`available` is False,
with one warning, and :mod:`fomm_nb.autotune` does not offer the fused paths.

Layouts (float32, contiguous):

* image ``(H, W, C)``: one picture, channels innermost (a channels_last image);
* transformed tiles ``(a^2, N, C)``: what the batched product reads;
* products ``(a^2, N, C_out)`` in, output rows ``(rows m, columns m, C_out)``
  out (a slice of rows of the layer's output: only its pixels need be contiguous).

Example (a compiler is needed: ``available()``):
    >>> import torch
    >>> from fomm_nb.winograd import winograd_matrices
    >>> a_t, _, b_t = (matrix.float() for matrix in winograd_matrices(4, 3))
    >>> image = torch.rand(8, 8, 5)   # two rows of two 4x4 tiles, 5 channels
    >>> tiles = torch.empty(36, 4, 5)
    >>> input_transform(image, tiles, top=-1, left=-1, columns=2, tile=4, input_matrix=b_t)
    >>> padded = torch.nn.functional.pad(image.permute(2, 0, 1), (1, 1, 1, 1))  # (C, 10, 10)
    >>> first = padded[:, :6, :6]                                               # tile 0: (C, 6, 6)
    >>> expected = (b_t @ first @ b_t.T).permute(1, 2, 0).reshape(36, 5)
    >>> bool(torch.allclose(tiles[:, 0], expected, atol=1e-5))
    True
"""

import ctypes
import getpass
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from functools import cache
from pathlib import Path

import torch

__all__ = ["available", "build", "threaded", "input_transform", "output_transform", "cpu_description", "SOURCE"]

#: The C source compiled on first use.
SOURCE = Path(__file__).with_name("fused_transforms.c")
#: The largest input tile side the C code holds (``F(6x6, 3x3)``: 8).
MAX_ALPHA = 8

_int, _pointer = ctypes.c_int64, ctypes.c_void_p
_SIGNATURES = {
    "fomm_input_transform": ([_pointer, _int, _int, _int, _int, _int, _int, _int, _int, _pointer, _pointer, _int,
                              _int], None),
    "fomm_output_transform": ([_pointer, _int, _int, _pointer, _pointer, _pointer, _int, _int, _int, _int, _int],
                              None),
    "fomm_threaded": ([], ctypes.c_int),
}


def _compiler() -> str | None:
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    return next((path for path in map(shutil.which, names) if path), None)


def _isa_flags() -> list[list[str]]:
    """The flags to try, best first: the ISA torch is told to use, then none; each with OpenMP, then without."""
    capability = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    isa = {"default": [[]], "avx2": [["-mavx2", "-mfma"], []]}.get(capability, [["-march=native"], []])
    return [flags + threads for flags in isa for threads in (["-fopenmp"], [])]


def _build_folder() -> Path:
    """``native/`` under ``$FOMM_NB_HOME`` when set, else under the user's cache (``~/.cache/fomm-nb``)."""
    home = os.environ.get("FOMM_NB_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fomm-nb"
    return base / "native"


def cpu_description() -> tuple[str, str]:
    """This CPU's model name and its feature flags, as Linux's ``/proc/cpuinfo`` gives them.

    Elsewhere (or without those lines) the model is the platform's word for the
    processor and the flags are empty.

    Example:
        >>> model, flags = cpu_description()
        >>> isinstance(model, str) and model != ""
        True
    """
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    return fields.get("model name") or platform.processor() or platform.machine(), fields.get("flags", "")


def _torch_openmp() -> str | None:
    """The OpenMP runtime torch loaded (a wheel's may be renamed, e.g. ``libgomp-a34b3233.so.1``), if one shows."""
    try:
        with open("/proc/self/maps") as maps:
            return next((line.split()[-1] for line in maps if "libgomp" in line.rsplit("/", 1)[-1]), None)
    except OSError:  # not Linux
        return None


def _commands(compiler: str, flags: list[str], target: str, openmp: str | None) -> list[list[str]]:
    """The commands that build ``target`` with ``flags``.

    With OpenMP the library is linked to torch's own runtime ``openmp`` where
    it shows, so that its threads are torch's threads: a second runtime's
    threads would spin beside torch's on the same cores.
    """
    runtime = openmp if "-fopenmp" in flags else None
    if runtime is None:
        return [[compiler, "-O3", *flags, "-shared", "-fPIC", "-o", target, str(SOURCE)]]
    return [[compiler, "-O3", *flags, "-fPIC", "-c", "-o", target + ".o", str(SOURCE)],
            [compiler, "-shared", "-o", target, target + ".o", runtime]]


def _compile(compiler: str) -> Path:
    """Build (or find built) the shared library for this source, compiler and ISA; raises OSError on failure."""
    folder = _build_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable cache: build where this user can
        folder = Path(tempfile.gettempdir()) / f"fomm-nb-native-{getpass.getuser()}"
        folder.mkdir(exist_ok=True)
    # -march=native builds for this CPU: its model and features name the build
    error, source, cpu, openmp = "", SOURCE.read_bytes(), cpu_description(), _torch_openmp()
    for flags in _isa_flags():
        key = repr((source, compiler, flags, cpu, openmp)).encode()
        target = folder / f"fused_transforms-{hashlib.sha256(key).hexdigest()[:16]}.so"
        if target.exists():
            return target
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".so", delete=False) as partial:
            pass
        for command in _commands(compiler, flags, partial.name, openmp):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                error = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
                break
        Path(partial.name + ".o").unlink(missing_ok=True)
        if result.returncode == 0:
            os.replace(partial.name, target)  # whole or not at all: another process may be loading it
            return target
        os.unlink(partial.name)
    raise OSError(f"{compiler}: {error}")


@cache
def _library() -> ctypes.CDLL | None:
    compiler = _compiler()
    if compiler is None:
        warnings.warn("fused Winograd transforms: no C compiler (cc, gcc or clang; or set CC), so the "
                      "'-fused' paths are not offered", stacklevel=3)
        return None
    try:
        library = ctypes.CDLL(str(_compile(compiler)))
    except OSError as error:
        warnings.warn(f"fused Winograd transforms: could not build {SOURCE.name} ({error}); the '-fused' paths "
                      "are not offered", stacklevel=3)
        return None
    for name, (arguments, result) in _SIGNATURES.items():
        getattr(library, name).argtypes = arguments
        getattr(library, name).restype = result
    return library


def build() -> str | None:
    """The name of the library in use (its digest follows the source, compiler, flags and CPU), or None."""
    library = _library()
    return None if library is None else Path(library._name).name


def available() -> bool:
    """Whether the fused transforms can run here (builds them on first call; a warning says why not)."""
    return _library() is not None


def _loaded() -> ctypes.CDLL:
    library = _library()
    if library is None:
        raise RuntimeError("the fused Winograd transforms could not be built here (see the warning above); "
                           "use a path without '-fused'")
    return library


def threaded() -> bool:
    """Whether the build shares each transform's tiles among torch's threads (it was built with OpenMP)."""
    return bool(_loaded().fomm_threaded())


def _check(tensor, name, dims, whole=True):
    """``tensor`` is a ``dims``-d float32 CPU tensor, contiguous when ``whole`` (else its pixels are checked)."""
    if tensor.dtype != torch.float32 or tensor.device.type != "cpu" or tensor.dim() != dims or (
            whole and not tensor.is_contiguous()):
        raise ValueError(f"fused transforms: {name} must be a contiguous {dims}-d float32 CPU tensor, got {tensor.dtype} "
                         f"{tuple(tensor.shape)} on {tensor.device}")


def input_transform(image: torch.Tensor, out: torch.Tensor, top: int, left: int, columns: int, tile: int,
                    input_matrix: torch.Tensor) -> None:
    """Write the transforms ``B^T d B`` of ``N`` tiles of ``image`` into ``out`` ``(a^2, N, C)``.

    ``image`` ``(H, W, C)`` and ``out`` contiguous float32; ``input_matrix``
    ``B^T`` ``(a, a)``. Tile ``n`` (``columns`` tiles to a row, tiles ``tile``
    apart) is the ``a x a`` pixels from image row ``top + (n // columns) tile``
    and column ``left + (n % columns) tile``; pixels outside the image are
    zeros, so ``top`` and ``left`` include the padding (``-padding`` for the
    first tile).
    """
    _check(image, "image", 3)
    _check(out, "out", 3)
    alpha, channels = input_matrix.shape[0], image.shape[2]
    if out.shape[0] != alpha * alpha or out.shape[2] != channels or alpha > MAX_ALPHA:
        raise ValueError(f"fused transforms: out {tuple(out.shape)} does not hold {alpha}x{alpha} tiles of "
                         f"{channels} channels (a <= {MAX_ALPHA})")
    matrix = input_matrix.to(torch.float32).contiguous()
    _loaded().fomm_input_transform(image.data_ptr(), image.shape[0], image.shape[1], channels, top, left, columns,
                                   tile, alpha, matrix.data_ptr(), out.data_ptr(), out.shape[1],
                                   torch.get_num_threads())


def output_transform(products: torch.Tensor, out: torch.Tensor, columns: int, output_matrix: torch.Tensor,
                     bias: torch.Tensor) -> None:
    """Write ``A^T M A + bias`` of every tile ``M`` of ``products`` ``(a^2, N, C)`` into ``out`` ``(rows m, W, C)``.

    ``output_matrix`` is ``A^T`` ``(m, a)``; tile ``n`` goes to rows
    ``(n // columns) m`` on and columns ``(n % columns) m`` on of ``out``, whose
    pixels must be contiguous (a slice of rows of a larger output is fine).
    """
    _check(products, "products", 3)
    _check(out, "out", 3, whole=False)
    tile, alpha = output_matrix.shape
    channels = products.shape[2]
    if out.stride(2) != 1 or out.stride(1) != channels or out.shape[2] != channels or alpha > MAX_ALPHA:
        raise ValueError(f"fused transforms: out {tuple(out.shape)} needs contiguous pixels of {channels} channels "
                         f"(a <= {MAX_ALPHA})")
    matrix = output_matrix.to(torch.float32).contiguous()
    bias = bias.to(torch.float32).contiguous()
    _loaded().fomm_output_transform(products.data_ptr(), products.shape[1], channels, matrix.data_ptr(),
                                    bias.data_ptr(), out.data_ptr(), out.stride(0), columns, tile, alpha,
                                    torch.get_num_threads())
