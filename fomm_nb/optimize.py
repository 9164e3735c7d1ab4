"""Inference-time transforms: the same model, computed with less work.

:func:`optimize_for_inference` returns a copy of a model whose blocks give the
same outputs, to float rounding (about 1e-6), in fewer passes over memory and
fewer multiply-adds. It is for inference only: the copy has no BatchNorm
statistics to train and its state dict is not the published one.

* **BatchNorm folded into the convolution before it.** In eval mode a BN layer
  is the per-channel affine map ``y = a x + b`` with
  ``a = gamma / sqrt(running_var + eps)`` and ``b = beta - a running_mean``;
  after a convolution ``W * x + c`` it becomes the convolution
  ``(a W) * x + (a c + b)``. The conv-BN-ReLU blocks (same, down and up
  blocks) fold whole. A residual block is pre-activation,
  ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``: ``bn2`` follows ``conv1`` and
  folds into it, but ``bn1`` feeds a ReLU (which an affine map cannot cross
  when ``a`` may be negative) and no convolution precedes it inside the block
  (its input is also the residual), so it stays, as one cheap pass.
* **Up blocks without the upsampling** (inputs of 4 pixels a side or more).
  Nearest x2 upsampling followed by a 3x3 convolution (padding 1) gives, at
  each of the four output phases ``(2i + p, 2j + q)``, a 2x2 convolution of the small input whose taps are
  sums of the 3x3 taps: along one axis, phase 0 reads rows ``i - 1, i`` with
  taps ``(w0, w1 + w2)`` and phase 1 reads rows ``i, i + 1`` with taps
  ``(w0 + w1, w2)``. One convolution with ``4 C_out`` outputs computes all four
  phases with 4/9 of the multiply-adds, then they are interleaved.
* **Winograd convolutions** (:mod:`fomm_nb.winograd`, ``F(4x4, 3x3)``) for
  the 3x3 convolutions with at least ``WINOGRAD_MIN_CHANNELS`` inputs — the
  residual bottleneck holds most of the work: 4x fewer multiplications, at
  the price of a few 1e-6 relative error per layer.
* **ReLU in place**, and the folded weights stored ``channels_last`` (NHWC),
  the layout oneDNN's CPU convolutions and cuDNN's tensor-core kernels
  prefer; feed ``channels_last`` inputs (:func:`to_channels_last`).
* **The generator's high-resolution tail one frame at a time.** Its up
  blocks and final convolution hold the largest activations (at vox-256,
  about 40 MB a frame) and gain nothing from a batch: they run frame by frame
  (:class:`FrameByFrame`), so a batch's peak memory is one frame's there.
* **Weights shared, not copied, where nothing changes them.** The copy's
  parameters that no transform touches share their storage with the model
  (detached, without gradients), and a convolution with more than
  ``FOLD_MAX_WEIGHTS`` weights keeps its BatchNorm: the hourglasses' deep
  levels hold most of the weights (at vox-256, 230 MB of 240) on activations
  of a few pixels, where the BatchNorm's pass costs nothing and a folded
  copy would double the memory. On those small inputs the convolution runs
  as im2col patches times the shared NCHW weight, read in place
  (:class:`~fomm_nb.winograd.WinogradConv2d`'s ``"im2col"`` path): oneDNN
  would copy the weight into its layout on every call. The copy reads the model's current weights:
  after training the model in place, make a new one.

Example:
    >>> from fomm_nb.hub import get_model
    >>> model = get_model("demo", device="cpu")
    >>> fast = optimize_for_inference(model)
    >>> image = torch.rand(1, 3, 64, 64)
    >>> kp = fast.kp_detector(to_channels_last(image))
    >>> bool((kp["value"] - model.kp_detector(image)["value"]).abs().max() < 1e-5)
    True
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .model import FirstOrderModel
from .modules.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from .modules.generator import OcclusionAwareGenerator
from .winograd import WinogradConv2d

__all__ = [
    "optimize_for_inference",
    "fold_batchnorm",
    "to_channels_last",
    "ConvReLU",
    "PooledConvReLU",
    "UpsampledConvReLU",
    "FoldedResBlock2d",
    "FrameByFrame",
]


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """A new ``nn.Conv2d`` equal to ``norm(conv(x))`` for an eval-mode ``BatchNorm2d``.

    The per-channel scale and the bias are computed in float64.

    Example:
        >>> conv, norm = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4).eval()
        >>> norm.running_mean.uniform_(-1, 1); norm.running_var.uniform_(0.5, 2)  # doctest: +ELLIPSIS
        tensor(...)
        >>> x = torch.rand(1, 3, 8, 8)
        >>> bool((fold_batchnorm(conv, norm)(x) - norm(conv(x))).abs().max() < 1e-5)
        True
    """
    if not norm.track_running_stats:
        raise ValueError("a BatchNorm without running statistics normalises by batch: it cannot be folded")
    scale = norm.running_var.double().add(norm.eps).rsqrt()
    shift = -norm.running_mean.double() * scale
    if norm.affine:
        scale = scale * norm.weight.double()
        shift = shift * norm.weight.double() + norm.bias.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(shift)
    folded = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        padding_mode=conv.padding_mode,
        device="meta",
    )
    dtype = conv.weight.dtype
    folded.weight = nn.Parameter(conv.weight.detach() * scale.to(dtype).view(-1, 1, 1, 1))
    folded.bias = nn.Parameter((bias * scale + shift).to(dtype))
    return folded


#: 3x3 convolutions with fewer input channels run faster directly (measured on CPU).
WINOGRAD_MIN_CHANNELS = 128

#: Convolutions with more weights keep their BatchNorm unfolded (and their weights shared with the model).
FOLD_MAX_WEIGHTS = 2**20


def _winograd_eligible(conv):
    shape = conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.dilation == (1, 1)
    plain = conv.groups == 1 and conv.padding_mode == "zeros" and conv.bias is not None
    return shape and plain and conv.in_channels >= WINOGRAD_MIN_CHANNELS


def to_channels_last(tensor: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` tensor stored NHWC (same values, same shape).

    Example:
        >>> to_channels_last(torch.rand(1, 3, 4, 4)).stride()
        (48, 1, 12, 3)
    """
    return tensor.contiguous(memory_format=torch.channels_last)


class ConvReLU(nn.Module):
    """An eval-mode :class:`~fomm_nb.modules.blocks.SameBlock2d`: conv (BN folded in), ReLU in place.

    Example:
        >>> block = SameBlock2d(3, 8).eval()
        >>> x = torch.rand(1, 3, 16, 16)
        >>> bool((ConvReLU(block)(x) - block(x)).abs().max() < 1e-5)
        True
    """

    def __init__(self, block):
        super().__init__()
        self.conv = fold_batchnorm(block.conv, block.norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).relu_()


class PooledConvReLU(ConvReLU):
    """An eval-mode :class:`~fomm_nb.modules.blocks.DownBlock2d`: :class:`ConvReLU`, then 2x2 average pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), kernel_size=2)


#: The output phases ``(row, column)`` in the order their convolution outputs are stacked.
_PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def _phase_taps(weight, dim, phase):
    """The two taps along ``dim`` (of three) that output phase ``phase`` of an x2 upsampling sees."""
    first, middle, last = weight.unbind(dim)
    return torch.stack((first, middle + last) if phase == 0 else (first + middle, last), dim)


def _memory_format(tensor):
    channels_last = tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last and not tensor.is_contiguous() else torch.contiguous_format


#: Smaller inputs (either side) are upsampled as published: there the phase form saves nothing
#: (``16 (h + 1)^2`` against ``36 h^2`` multiply-adds: equal at 2) and would hold 16/9 of the weights.
PHASE_MIN_SIZE = 4


class UpsampledConvReLU(nn.Module):
    """An eval-mode :class:`~fomm_nb.modules.blocks.UpBlock2d` that never builds the upsampled input.

    ``(B, C_in, h, w)`` -> ``(B, C_out, 2h, 2w)``: one 2x2 convolution with
    ``4 C_out`` outputs (the four phases, see the module docstring), ReLU, and
    the phases interleaved into the output. The phase kernel is made for the
    first input of at least ``PHASE_MIN_SIZE`` pixels a side; smaller inputs
    are upsampled, then convolved.

    Example:
        >>> block = UpBlock2d(8, 4).eval()
        >>> x = torch.rand(2, 8, 9, 11)
        >>> bool((UpsampledConvReLU(block)(x) - block(x)).abs().max() < 1e-5)
        True
    """

    def __init__(self, block):
        super().__init__()
        self.conv = fold_batchnorm(block.conv, block.norm)
        if self.conv.kernel_size != (3, 3) or self.conv.padding != (1, 1) or self.conv.stride != (1, 1):
            raise ValueError("the phase decomposition needs a 3x3 convolution with padding 1 and stride 1")
        self.register_buffer("weight", None)  # (4 C_out, C_in, 2, 2), phase-major
        self.path = None  # "upsampled" forces the published path (fomm_nb.autotune); None: by PHASE_MIN_SIZE
        self.register_buffer("bias", None)  # (4 C_out)

    def _make_phase_kernel(self):
        """Make ``weight`` and ``bias``, publishing ``weight`` last.

        Engine workers share this module, so two threads may both see no
        kernel and make one; a thread that sees ``weight`` must also see
        ``bias``, hence both are computed first and ``weight`` assigned last.
        """
        weight = self.conv.weight.detach()
        phases = torch.cat([_phase_taps(_phase_taps(weight, 2, row), 3, column) for row, column in _PHASES])
        self.bias = self.conv.bias.detach().repeat(4)
        self.weight = phases.contiguous(memory_format=_memory_format(weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        if min(height, width) < PHASE_MIN_SIZE or self.path == "upsampled":
            return self.conv(F.interpolate(x, scale_factor=2, mode="nearest")).relu_()
        if self.weight is None:
            self._make_phase_kernel()
        channels = self.conv.out_channels
        phases = F.conv2d(x, self.weight, self.bias, padding=1).relu_()  # (B, 4 C_out, h + 1, w + 1)
        out = torch.empty(
            (batch, channels, 2 * height, 2 * width), dtype=phases.dtype, device=x.device, memory_format=_memory_format(x)
        )
        interleaved = out.view(batch, channels, height, 2, width, 2)
        for index, (row, column) in enumerate(_PHASES):
            phase = phases[:, index * channels : (index + 1) * channels]
            interleaved[:, :, :, row, :, column] = phase[:, :, row : row + height, column : column + width]
        return out


class FoldedResBlock2d(nn.Module):
    """An eval-mode :class:`~fomm_nb.modules.blocks.ResBlock2d` with ``norm2`` folded into ``conv1``.

    ``norm1`` and ``conv2`` are the block's own modules, shared.

    Example:
        >>> block = ResBlock2d(8).eval()
        >>> x = torch.rand(1, 8, 16, 16)
        >>> bool((FoldedResBlock2d(block)(x) - block(x)).abs().max() < 1e-5)
        True
    """

    def __init__(self, block):
        super().__init__()
        self.norm1 = block.norm1  # shared with block, as are conv2's weights
        self.conv1 = fold_batchnorm(block.conv1, block.norm2)
        self.conv2 = block.conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(out.relu_()).add_(x)


class FrameByFrame(nn.Module):
    """``body`` applied to each item of a batch in turn: ``(B, ...)`` -> ``(B, ...)``, one item's activations at a time.

    Example:
        >>> body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 2, 1))
        >>> x = torch.rand(3, 3, 8, 8)
        >>> bool((FrameByFrame(body)(x) - body(x)).abs().max() < 1e-5)
        True
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.body(item) for item in x.split(1)])


def _tail_frame_by_frame(generator):
    """Move the generator's up blocks into its final convolution, run :class:`FrameByFrame`: ``decode`` is unchanged."""
    generator.final = FrameByFrame(nn.Sequential(*generator.up_blocks, generator.final))
    generator.up_blocks = nn.ModuleList()


#: Block types and their inference forms; subclasses before their base class.
_REPLACEMENTS = (
    (UpBlock2d, UpsampledConvReLU),
    (DownBlock2d, PooledConvReLU),
    (SameBlock2d, ConvReLU),
    (ResBlock2d, FoldedResBlock2d),
)


def _replace_children(module, replace):
    """Replace, depth first, each descendant for which ``replace`` returns a module."""
    for name, child in module.named_children():
        replacement = replace(child)
        if replacement is not None:
            setattr(module, name, replacement)
        else:
            _replace_children(child, replace)


def _fold_block(module):
    for slow, fast in _REPLACEMENTS:
        if isinstance(module, slow):
            conv = module.conv1 if isinstance(module, ResBlock2d) else module.conv
            return fast(module) if conv.weight.numel() <= FOLD_MAX_WEIGHTS else None
    return None


def _shared_copy(model):
    """A deep copy of ``model`` whose parameters and buffers share storage with the model's, without gradients."""
    memo = {id(tensor): nn.Parameter(tensor.detach(), requires_grad=False) for tensor in model.parameters()}
    memo.update({id(tensor): tensor.detach() for tensor in model.buffers()})
    return copy.deepcopy(model, memo)


def _winograd(module):
    if isinstance(module, UpsampledConvReLU):
        return module  # its 3x3 convolution serves only inputs too small for Winograd: leave it, and stop here
    return WinogradConv2d(module) if isinstance(module, nn.Conv2d) and _winograd_eligible(module) else None


def optimize_for_inference(model: FirstOrderModel, channels_last: bool = True, winograd: bool = True) -> FirstOrderModel:
    """A copy of ``model`` (any module built from :mod:`fomm_nb.modules.blocks`) for fast inference.

    The copy is in eval mode, its parameters do not require gradients, and
    its outputs equal the original's to float rounding (Winograd layers: a
    few 1e-6 relative). ``model`` itself is left as it is; the weights no
    transform changes are shared with it. With ``channels_last``, the folded
    weights are stored NHWC; the model accepts either layout, and is fastest
    with NHWC inputs.

    Example:
        >>> from fomm_nb.modules.blocks import Hourglass
        >>> net = Hourglass(4, in_features=3, num_blocks=2, max_features=16).eval()
        >>> x = torch.rand(1, 3, 16, 16)
        >>> bool((optimize_for_inference(net)(to_channels_last(x)) - net(x)).abs().max() < 1e-5)
        True
    """
    fast = _shared_copy(model).eval()
    shared = {tensor.data_ptr() for tensor in fast.parameters()}
    _replace_children(fast, _fold_block)
    if winograd:
        _replace_children(fast, _winograd)
    if isinstance(getattr(fast, "generator", None), OcclusionAwareGenerator):
        _tail_frame_by_frame(fast.generator)
    fast.requires_grad_(False)
    if channels_last:  # the new weights only: a shared one would be copied
        for module in fast.modules():
            for name, weight in module.named_parameters(recurse=False):
                if weight.dim() == 4 and weight.data_ptr() not in shared:
                    setattr(module, name, nn.Parameter(to_channels_last(weight), requires_grad=False))
    return fast
