"""Data-parallel training under ``torchrun``: process group, synchronised batch norm, rank helpers.

``torchrun --nproc_per_node N -m fomm_nb.cli train ...`` starts N processes
that each see their share of the data; gradients are averaged by
DistributedDataParallel and batch-norm statistics are computed over the
whole global batch. PyTorch's :class:`torch.nn.SyncBatchNorm` runs on GPUs
only, so on CPU (gloo) the layers become :class:`CpuSyncBatchNorm`, which
reduces its statistics with a differentiable all-reduce.

Example:
    >>> device = init_distributed()  # plain CPU or GPU when WORLD_SIZE is unset
    >>> net = convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(4)), device)
    >>> type(net[0]).__name__  # unchanged outside a process group
    'BatchNorm2d'
"""

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed._functional_collectives import all_reduce, wait_tensor

__all__ = ["is_distributed", "is_main_process", "init_distributed", "CpuSyncBatchNorm", "convert_sync_batchnorm"]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True for rank 0, and outside a process group."""
    return not is_distributed() or dist.get_rank() == 0


def init_distributed() -> torch.device:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1); return this process's device.

    gloo on CPU, NCCL with one GPU per process (``LOCAL_RANK``).
    """
    cuda = torch.cuda.is_available()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return torch.device("cuda" if cuda else "cpu")
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover every process's batch (any device, any backend).

    Same parameters and buffers as :class:`torch.nn.BatchNorm2d`, so state
    dicts are interchangeable. The per-channel sums are all-reduced with the
    functional collective ``all_reduce``, whose backward all-reduces the
    gradients, so the backward pass is exact too.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        sums = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])  # (2C + 1,)
        sums = wait_tensor(all_reduce(sums, "sum", dist.group.WORLD))
        channels = x.shape[1]
        total = sums[-1]
        mean = sums[:channels] / total
        variance = sums[channels : 2 * channels] / total - mean**2
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1 / float(self.num_batches_tracked)
                unbiased = variance * total / (total - 1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = (1, channels, 1, 1)
        out = (x - mean.view(shape)) * torch.rsqrt(variance.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(module: nn.Module, device: str | torch.device) -> nn.Module:
    """Replace ``module``'s BatchNorm2d layers by synchronised ones when running distributed.

    :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`CpuSyncBatchNorm`
    elsewhere; ``module`` is returned unchanged outside a process group.
    """
    if not is_distributed():
        return module
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_cpu_sync(module)


def _to_cpu_sync(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        synced = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        synced.load_state_dict(module.state_dict())
        return synced
    for name, child in module.named_children():
        setattr(module, name, _to_cpu_sync(child))
    return module
