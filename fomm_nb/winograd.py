"""Winograd's minimal filtering: stride-1 convolutions with fewer multiplications.

``F(m x m, r x r)`` computes an ``m x m`` tile of a convolution with an
``r x r`` kernel from an ``a x a`` input tile (``a = m + r - 1``) with ``a^2``
multiplications per channel pair instead of ``m^2 r^2``:

    Y = A^T [ (G g G^T) * (B^T d B) ] A

``g`` is the kernel, ``d`` the input tile and ``*`` the elementwise product;
summed over input channels, the products become ``a^2`` independent matrix
products, which is where the time goes. For ``F(4x4, 3x3)`` that is 36
multiplications for 16 outputs instead of 144: 4x fewer.

The matrices come from Toom-Cook polynomial multiplication: a correlation is
the transpose of a linear convolution, and a linear convolution is
"evaluate both polynomials at ``a`` points, multiply, interpolate". With
``V_n`` the ``a x n`` Vandermonde matrix of the points (the point at
infinity picks the leading coefficient): ``A^T = V_m^T``, ``G = V_r`` and
``B^T = V_a^-T``. Larger tiles use larger points and lose precision: the
points below give errors of a few 1e-6 relative to the outputs' range in
float32 for ``m = 4`` (a direct convolution: about 1e-6).

Example:
    >>> conv = nn.Conv2d(8, 4, 3, padding=1)
    >>> x = torch.rand(2, 8, 10, 12)
    >>> bool((WinogradConv2d(conv, min_tiles=1)(x) - conv(x)).abs().max() < 1e-5)
    True
"""

import torch
import torch.nn.functional as F
from torch import nn

from . import fused_transforms

__all__ = ["winograd_matrices", "WinogradConv2d", "FUSED", "can_fuse"]

#: The suffix of a Winograd path whose transforms run fused (:mod:`fomm_nb.fused_transforms`): ``"winograd-fused"``.
FUSED = "-fused"

#: Tiles transformed and multiplied at a time (whole tile rows; at least one row): the workspaces (tiles, their
#: transforms, the products) are ``a^2`` times this many ``C`` vectors each, not a whole image's.
CHUNK_TILES = 64

#: Interpolation points, used in this order; small points keep the transforms well conditioned.
POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)


def _vandermonde(columns, points):
    rows = [[point**k for k in range(columns)] for point in points]
    rows.append([0.0] * (columns - 1) + [1.0])  # the point at infinity
    return torch.tensor(rows, dtype=torch.float64)


def winograd_matrices(tile: int, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(A^T, G, B^T)`` of ``F(tile, kernel_size)`` in float64: ``(m, a)``, ``(a, r)``, ``(a, a)``.

    Example:
        >>> a_t, g, b_t = winograd_matrices(2, 3)
        >>> d, w = torch.rand(4, dtype=torch.float64), torch.rand(3, dtype=torch.float64)
        >>> direct = torch.stack([d[i : i + 3] @ w for i in range(2)])
        >>> bool(torch.allclose(a_t @ ((g @ w) * (b_t @ d)), direct))
        True
    """
    alpha = tile + kernel_size - 1
    if alpha - 1 > len(POINTS):
        raise ValueError(f"F({tile}, {kernel_size}) needs {alpha - 1} points; at most {len(POINTS)} are defined")
    points = POINTS[: alpha - 1]
    return _vandermonde(tile, points).T, _vandermonde(kernel_size, points), torch.linalg.inv(_vandermonde(alpha, points)).T


def can_fuse(device: torch.device | str, dtype: torch.dtype = torch.float32) -> bool:
    """Whether inputs on ``device`` of ``dtype`` can take a fused path: float32 on CPU, the transforms built here.

    Example:
        >>> can_fuse("cpu", torch.float64)
        False
    """
    return torch.device(device).type == "cpu" and dtype == torch.float32 and fused_transforms.available()


class WinogradConv2d(nn.Module):
    """A square stride-1 ``nn.Conv2d`` (no groups or dilation) computed as ``F(tile x tile, r x r)``.

    ``(B, C_in, H, W)`` -> ``(B, C_out, H', W')`` like the convolution it
    replaces; the Winograd path's output is stored channels_last. Images of
    fewer than ``min_tiles`` output tiles take another path (the matrix
    products get too small): ``"im2col"`` when the weight is stored NCHW and
    the batch's patches ``(B, C_in r^2, H' W')`` are no larger than it (at most
    ``C_out`` output pixels in the batch), else ``"direct"`` (oneDNN's
    convolution). The im2col path multiplies the patches by the weight where
    it lies (``weight.view(C_out, C_in r^2)``, one batched GEMM), where oneDNN
    copies an NCHW weight into its own layout on every call of a channels_last
    input: for the hourglasses' deep levels (4 to 36 MB weights on 4x4 and 8x8
    inputs at vox-256) that copy took longer than the arithmetic and was most
    of an engine worker's peak memory. ``"winograd-f6"`` is ``F(6x6, 3x3)``
    (3x3 kernels only): 64 multiplications for 36 outputs against 36 for 16 (1.27x fewer),
    larger transforms, and errors of about 1e-5 relative to the outputs' range
    in float32 (``F(4x4)``: a few 1e-6). ``"direct-nchw"`` is oneDNN's convolution
    on an NCHW copy of the input (the output stored channels_last again): on
    some machines and shapes oneDNN's NCHW kernels are the faster ones. ``path``
    forces one of ``"winograd"``, ``"winograd-f6"``, ``"direct"``, ``"im2col"`` and ``"direct-nchw"``
    (:mod:`fomm_nb.autotune`), and ``"winograd-fused"`` / ``"winograd-f6-fused"``
    on CPU: the same tilings with each transform fused with the memory pass
    around it (:mod:`fomm_nb.fused_transforms`, C built on first use): tiles
    read from the image where they lie, outputs written with their bias where
    they go. Without a forced ``path``, a Winograd layer runs fused on float32
    CPU inputs whenever the fused transforms could be built. The kernel's transform
    ``G g G^T`` (``a^2 / r^2`` times the kernel's size: 4x for ``F(4x4, 3x3)``)
    is made again by every call and freed after it: it costs about a
    thousandth of the call's multiply-adds, and keeping it would cost its
    memory for as long as the model lives.

    Example:
        >>> conv = nn.Conv2d(8, 4, 2, padding=1)
        >>> x = torch.rand(1, 8, 9, 9)
        >>> bool((WinogradConv2d(conv, tile=4, min_tiles=1)(x) - conv(x)).abs().max() < 1e-5)
        True
    """

    def __init__(self, conv, tile=4, min_tiles=16, chunk_tiles=CHUNK_TILES):
        super().__init__()
        kernel, padding = conv.kernel_size, conv.padding
        if kernel[0] != kernel[1] or padding[0] != padding[1] or conv.stride != (1, 1):
            raise ValueError("Winograd convolution needs a square kernel, equal padding and stride 1")
        if conv.groups != 1 or conv.dilation != (1, 1) or isinstance(padding, str) or conv.padding_mode != "zeros":
            raise ValueError("Winograd convolution needs groups=1, dilation 1 and numeric zero padding")
        if conv.bias is None:
            raise ValueError("Winograd convolution needs a bias (fold a zero bias in)")
        self.tile, self.kernel_size, self.padding = tile, kernel[0], padding[0]
        self.min_tiles = min_tiles
        self.chunk_tiles = chunk_tiles
        self.path = None  # one of autotune.PATHS[WinogradConv2d] (fomm_nb.autotune); None: choose_path
        self.conv = conv
        tiles = {"winograd": tile, "winograd-f6": 6}
        self.tilings = nn.ModuleDict({path: _Tiling(side, kernel[0], conv.weight) for path, side in tiles.items()
                                      if side + kernel[0] - 2 <= len(POINTS)})  # F(6x6, r x r) for r <= 3 only

    def _grid(self, height, width, tile=None):
        """``(output height, output width, tile rows, tile columns)`` for an ``height x width`` input (tiles of ``tile``)."""
        tile = tile or self.tile
        out_height = height + 2 * self.padding - self.kernel_size + 1
        out_width = width + 2 * self.padding - self.kernel_size + 1
        return out_height, out_width, -(-out_height // tile), -(-out_width // tile)

    def uses_winograd(self, height: int, width: int) -> bool:
        """Whether an ``height x width`` input goes through the Winograd path (else: the direct convolution).

        ``path`` decides when set; else images of at least ``min_tiles`` tiles do.

        Example:
            >>> layer = WinogradConv2d(nn.Conv2d(8, 8, 3, padding=1))  # min_tiles=16: 4 x 4 tiles of 4 x 4
            >>> layer.uses_winograd(12, 12), layer.uses_winograd(16, 16)
            (False, True)
        """
        if self.path is not None:
            return self.path.removesuffix(FUSED) in self.tilings
        _, _, rows, columns = self._grid(height, width)
        return rows * columns >= self.min_tiles

    def choose_path(self, batch: int, height: int, width: int) -> str:
        """The path a ``(batch, C_in, height, width)`` input takes: ``path`` when set, else the built-in rule.

        Example:
            >>> layer = WinogradConv2d(nn.Conv2d(8, 64, 3, padding=1))  # an NCHW weight, 64 outputs
            >>> layer.choose_path(1, 16, 16), layer.choose_path(1, 8, 8), layer.choose_path(2, 8, 8)
            ('winograd', 'im2col', 'direct')
        """
        if self.path is not None:
            return self.path
        if self.uses_winograd(height, width):
            return "winograd"
        out_height, out_width, _, _ = self._grid(height, width)
        small = batch * out_height * out_width <= self.conv.out_channels  # the patches are no larger than the weight
        return "im2col" if small and self.conv.weight.is_contiguous() else "direct"

    def _im2col(self, x):
        """The convolution as patches ``(B, C_in r^2, H' W')`` times the weight ``(C_out, C_in r^2)``, read in place."""
        batch, _, height, width = x.shape
        out_height, out_width, _, _ = self._grid(height, width)
        patches = F.unfold(x, self.kernel_size, padding=self.padding)  # (B, C_in r^2, H' W')
        weight = self.conv.weight.detach().reshape(self.conv.out_channels, -1)  # a view of an NCHW weight
        out = torch.baddbmm(self.conv.bias.detach()[None, :, None], weight.expand(batch, -1, -1), patches)
        return out.view(batch, -1, out_height, out_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        path = self.choose_path(batch, height, width)
        if self.path is None and path in self.tilings and can_fuse(x.device, x.dtype):
            path += FUSED  # the built-in rule's Winograd runs fused where it can: 1.1-1.5x faster per layer
        if path == "direct":
            return self.conv(x)
        if path == "im2col":
            return self._im2col(x)
        if path == "direct-nchw":
            return self.conv(x.contiguous()).contiguous(memory_format=torch.channels_last)
        fused = path.endswith(FUSED)
        tiling = self.tilings[path.removesuffix(FUSED)]
        out_height, out_width, rows, columns = self._grid(height, width, tiling.tile)
        weight = tiling.transformed_kernel(self.conv.weight.detach())
        bias = self.conv.bias.detach()
        tile, extra = tiling.tile, tiling.alpha - tiling.tile  # a tile row reads `extra` input rows past its own
        out = torch.empty((batch, rows * tile, columns * tile, self.conv.out_channels), dtype=x.dtype, device=x.device)
        step = max(1, min(rows, self.chunk_tiles // columns))  # tile rows per chunk
        if fused:  # the tiles are read where they lie: the image's pixels must be contiguous
            x = x.contiguous(memory_format=torch.channels_last)
            workspaces = tiling.fused_workspaces(step * columns, x.shape[1], self.conv.out_channels)
        else:
            # One zeroed buffer of a chunk's padded input rows, reused: only the image's pixels are written into it, so
            # its padding columns stay zero, and rows above or below the image are zeroed where a chunk reaches them.
            buffer = x.new_zeros((step * tile + extra, columns * tile + extra, x.shape[1]))
        for item in range(batch):  # one image at a time, a few tile rows at a time: the workspaces stay small
            image = x[item].permute(1, 2, 0)  # (H, W, C), a view
            for start in range(0, rows, step):
                stop = min(rows, start + step)
                rows_out = out[item, start * tile : stop * tile]
                if fused:
                    tiling.convolve_fused(image, start * tile - self.padding, -self.padding, stop - start, columns,
                                          weight, bias, rows_out, workspaces)
                else:
                    part = self._padded_rows(image, buffer, start * tile - self.padding, (stop - start) * tile + extra)
                    tiling.convolve(part, weight, bias, stop - start, columns, rows_out)
        return out[:, :out_height, :out_width].permute(0, 3, 1, 2)

    def _padded_rows(self, image, buffer, top, count):
        """Rows ``top .. top + count`` of ``image`` ``(H, W, C)`` zero-padded, written into ``buffer``: ``(count, W', C)``.

        ``top`` may be negative and ``top + count`` past the image: those rows are zeros.
        """
        part = buffer[:count]
        first, last = max(top, 0), min(top + count, image.shape[0])
        part[: first - top].zero_()
        part[last - top :].zero_()
        part[first - top : last - top, self.padding : self.padding + image.shape[1]].copy_(image[first:last])
        return part


class _Tiling(nn.Module):
    """The transforms of ``F(m x m, r x r)`` for one tile side ``m``, and the convolution of tile rows with them.

    Buffers: ``kernel_transform`` ``(a^2, r^2)``, ``input_transform`` ``(a^2, a^2)``, ``output_transform`` ``(m^2, a^2)``.
    """

    def __init__(self, tile, kernel_size, like):
        super().__init__()
        a_t, g, b_t = winograd_matrices(tile, kernel_size)
        self.tile, self.alpha, self.kernel_size = tile, tile + kernel_size - 1, kernel_size
        as_weight = {"dtype": like.dtype, "device": like.device}
        self.register_buffer("kernel_transform", torch.kron(g, g).to(**as_weight))
        self.register_buffer("input_transform", torch.kron(b_t, b_t).to(**as_weight))
        self.register_buffer("output_transform", torch.kron(a_t, a_t).to(**as_weight))
        self.register_buffer("input_matrix", b_t.float(), persistent=False)  # B^T and A^T, for the fused transforms
        self.register_buffer("output_matrix", a_t.float(), persistent=False)

    def transformed_kernel(self, weight):
        """``G g G^T`` for every channel pair of ``weight`` ``(C_out, C_in, r, r)``, as one product: ``(a^2, C_in, C_out)``."""
        taps = weight.permute(2, 3, 1, 0).reshape(self.kernel_size * self.kernel_size, -1)  # (r^2, C_in C_out)
        return (self.kernel_transform @ taps).view(self.alpha * self.alpha, weight.shape[1], weight.shape[0])

    def convolve(self, padded, weight, bias, rows, columns, out):
        """Convolve ``rows`` tile rows of a padded ``(H, W, C)`` image into ``out`` ``(rows m, columns m, C_out)``.

        Each transform is one matrix product over every tile: the tiles are
        gathered as ``(a^2, N C)``, pixel ``(i, j)`` of every tile in one row
        (a copy with the channels innermost, as the image lies), so the input
        transform is one GEMM and its result ``(a^2, N, C)`` is what the
        batched product with the kernel reads, in place. Gathering them as
        ``(N, C, a^2)`` instead, and transforming tile by tile, took 0.7-1.1
        ms more per chunk of 64-512 tiles (64-256 channels, one thread) than
        this, next to the main product's 0.8-1.5 ms. The bias is added to the
        chunk's output once written, while it is in cache.
        """
        count, channels, tile, alpha = rows * columns, padded.shape[2], self.tile, self.alpha
        tiles = padded.unfold(0, alpha, tile).unfold(1, alpha, tile)  # (rows, columns, C, a, a), a view
        tiles = tiles.permute(3, 4, 0, 1, 2).reshape(alpha * alpha, count * channels)  # (a^2, N C)
        transformed = (self.input_transform @ tiles).view(alpha * alpha, count, channels)  # (a^2, N, C)
        products = torch.bmm(transformed, weight)  # (a^2, N, C_out)
        y = self.output_transform @ products.view(alpha * alpha, -1)  # (m^2, N C_out)
        out.view(rows, tile, columns, tile, -1).copy_(y.view(tile, tile, rows, columns, -1).permute(2, 0, 3, 1, 4))
        out += bias  # the chunk's output is still in cache

    def fused_workspaces(self, count, channels, out_channels):
        """Flat buffers for ``count`` tiles' transforms ``(a^2, count, C_in)`` and products ``(a^2, count, C_out)``."""
        size = self.alpha * self.alpha * count
        return torch.empty(size * channels), torch.empty(size * out_channels)

    def convolve_fused(self, image, top, left, rows, columns, weight, bias, out, workspaces):
        """:meth:`convolve` with each transform in one pass (:mod:`fomm_nb.fused_transforms`), from ``image`` itself.

        ``image`` ``(H, W, C)`` contiguous; the chunk's first tile starts at
        row ``top`` and column ``left`` (negative: padding); ``out`` ``(rows m,
        columns m, C_out)`` with contiguous pixels; ``workspaces`` from
        :meth:`fused_workspaces`, large enough for ``rows x columns`` tiles.
        """
        count, squares = rows * columns, self.alpha * self.alpha
        tiles = workspaces[0][: squares * count * image.shape[2]].view(squares, count, -1)
        fused_transforms.input_transform(image, tiles, top, left, columns, self.tile, self.input_matrix)
        products = workspaces[1][: squares * count * weight.shape[2]].view(squares, count, -1)
        torch.bmm(tiles, weight, out=products)
        fused_transforms.output_transform(products, out, columns, self.output_matrix, bias)
