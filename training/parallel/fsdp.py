"""FSDP2 for the policy (``worker.actor.strategy=fsdp2``): shard it, gather it, keep the ranks in step.

Layout, as veRL's FSDP2 workers wrap Qwen-VL: ``fully_shard`` on every language decoder layer, then on the
whole model (the root unit: embeddings, vision tower, final norm, LM head). The vision tower stays in the
root unit on purpose: the root gathers it on every forward, on every rank, so a rank whose micro-batch
has no pixels does not leave the others waiting in the tower's all-gather (its backward is covered by the
zero-weighted dummy vision pass, ``vision.dummy_vision_term``).

Every forward of a sharded model is a collective (one all-gather per unit), so the ranks must run the same
number of forwards and backwards: ``max_over_ranks`` gives the micro-batch count every rank runs, the ranks
with fewer fill in with zero-weighted padding passes (``training.loop.update``). Generation, whose forward
count depends on the sampled lengths, runs on each rank's own full copy of the weights instead
(``HFEngine.sync_weights``), gathered with ``full_state`` before each step: veRL's hybrid-engine layout.

Gradients are reduce-scattered with the divide factor set to 1, i.e. summed over ranks, because the loss is
already normalised by the global token (or row) count (``training.loop.update``): the step equals one worker's
step on the union of the rollouts, as with ``replicate``.
"""

from __future__ import annotations

import logging
import os
import tempfile

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


def is_sharded(model: nn.Module) -> bool:
    """Whether ``model`` was laid out by ``shard_policy`` (its parameters are DTensor shards)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The language model's decoder layers of a transformers Qwen-VL model (``model.language_model.layers``)."""
    lm = getattr(getattr(model, "model", None), "language_model", None)
    layers = getattr(lm, "layers", None)
    if not isinstance(layers, nn.ModuleList) or not len(layers):
        raise ValueError(f"{type(model).__name__} has no decoder layers at .model.language_model.layers")
    return layers


def ensure_process_group() -> None:
    """A one-rank process group when none exists (a single-process run with ``strategy=fsdp2``).

    Its rendezvous is a file store in a private temporary file: a TCP store listens on every interface even
    when given 127.0.0.1, and one rank needs no network at all."""
    if dist.is_initialized():
        return
    fd, store = tempfile.mkstemp(prefix="reelrl-process-group-")
    os.close(fd)  # the file store wants an empty file it can open itself
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, init_method=f"file://{store}", rank=0, world_size=1)
    log.info("fsdp2: started a one-rank %s process group", backend)


def shard_policy(model: nn.Module) -> nn.Module:
    """``fully_shard`` each decoder layer, then the root, over all ranks; gradients summed, not averaged.
    Call before the optimizer is built (it must see the sharded parameters). Returns ``model``."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    ensure_process_group()
    device = next(model.parameters()).device
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # a plain SUM (gloo has no PREMUL_SUM)
    return model


def full_state(model: nn.Module, rank0_only: bool = False) -> dict[str, torch.Tensor]:
    """The whole state dict of ``model`` under its usual names. For a sharded model this gathers every
    shard (a collective: every rank must call it); ``rank0_only`` keeps the gathered tensors on rank 0 (on
    CPU) and gives the others an empty dict, for saving."""
    if not is_sharded(model):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=rank0_only))


def load_full_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put a whole state dict (every rank holds it) into a sharded model: each rank keeps its shard."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True))


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer state keyed by parameter name, gathered whole on rank 0 (CPU); every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(model, optimizer, options=options)


def load_full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Inverse of ``full_optimizer_state``: every rank passes the whole state and keeps its shard."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def max_over_ranks(value: int) -> int:
    """The largest ``value`` any rank holds (``value`` itself outside torch.distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def wait_for_ranks() -> None:
    """Every rank waits here until all have arrived (nothing outside torch.distributed): after rank 0 writes
    a checkpoint, no other rank reads it before it is complete."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def local_value(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor from a DTensor result (e.g. a sharded model's gradient norm); others unchanged."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t
