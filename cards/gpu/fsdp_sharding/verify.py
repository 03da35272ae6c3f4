"""Verifier for hand-written FSDP: W ranks over gloo (the card kit's `run_world`), each wrapping
an identically initialised module. Checked in each rank: the one Parameter and its values (the
padded flat parameters' slice), the forward against the unsharded module, the shard's gradient
after backward against the slice of the mean gradient, plain SGD steps against unsharded
training on the whole batch, and the tensor memory alive between steps.

Memory is measured, not inferred: every tensor alive in the rank (gc) whose storage did not
exist when the rank started and is not the shard, its grad or the verifier's batch (those count
beyond their own bytes only: a shard viewing a bigger storage holds the rest), counted once
per storage (and measured again for a moment, since gloo frees a finished op's buffers late). The module is built inside the rank, so the verifier holds no copy of it.
"""

import gc
import time

import pytest
import torch
from torch import nn

from cards.checks import assert_close, assert_close_diagnosed, call, randn
from cards.distributed import run_world

PER_RANK = 4


class Net(nn.Module):
    """P = 264 + 48 + 175 = 487 parameters: not divisible by 2, 3 or 4 (padding)."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = nn.Linear(10, 24)
        self.norm = nn.LayerNorm(24)
        self.fc2 = nn.Linear(24, 7)
        with torch.no_grad():  # LayerNorm starts at 1 and 0: make its slice distinctive
            self.norm.weight.add_(0.1 * torch.randn(24))
            self.norm.bias.add_(0.1 * torch.randn(24))

    def forward(self, x):
        return self.fc2(torch.tanh(self.norm(self.fc1(x))))


def _flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _flat_grad(model) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


P = sum(p.numel() for p in Net(0).parameters())
LIMIT_BYTES = P * 4 // 2  # half of the full float32 parameters


def _size(world: int) -> int:
    return -(-P // world)


def _padded(flat: torch.Tensor, world: int) -> torch.Tensor:
    return torch.cat([flat, flat.new_zeros(world * _size(world) - flat.numel())])


def _batch(world: int, seed: int):
    x = randn((world * PER_RANK, 10), seed)
    y = randn((world * PER_RANK, 7), seed + 1)
    return x, y


def _loss(out, y):
    return ((out - y) ** 2).mean()


def _alive() -> dict:
    """{storage pointer: bytes} of every tensor alive in this process."""
    gc.collect()
    found, is_tensor = {}, {}
    for obj in gc.get_objects():
        # type(), not isinstance: some objects' __class__ warns or raises
        kind = type(obj)
        if kind not in is_tensor:
            is_tensor[kind] = issubclass(kind, torch.Tensor)
        if not is_tensor[kind]:
            continue
        try:
            storage = obj.untyped_storage()
            nbytes, pointer = storage.nbytes(), storage.data_ptr()
        except Exception:  # noqa: BLE001 - sparse, meta, functorch wrappers: no storage
            nbytes = pointer = 0
        if nbytes and pointer:
            found[pointer] = nbytes
    return found


def _held(base: dict, mine) -> int:
    """Bytes of tensor storage alive now that did not exist in `base` and are not `mine`.
    Gloo's worker threads release a finished operation's buffers a moment after it completes:
    measured again for up to half a second while over the limit, and the least is kept."""
    # `mine` counts for its own bytes only: a shard that is a view of the padded W·S vector
    # keeps that whole storage alive, and the excess is held memory
    keep = {}
    for t in mine:
        if t is not None:
            pointer = t.untyped_storage().data_ptr()
            keep[pointer] = keep.get(pointer, 0) + t.numel() * t.element_size()
    least = None
    for _ in range(25):
        alive = _alive()
        now = sum(max(0, b - keep.get(p, 0)) for p, b in alive.items() if p not in base)
        least = now if least is None else min(least, now)
        if least < LIMIT_BYTES:
            break
        time.sleep(0.02)
    return least


def _the_shard(wrapper, rank, world):
    params = list(wrapper.parameters())
    names = [n for n, _ in wrapper.named_parameters()]
    S = _size(world)
    assert len(params) == 1, (
        f"FSDP(module).parameters() yields {len(params)} tensors "
        f"({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); it must yield exactly one, "
        "this rank's shard, so that an optimiser built on parameters() holds one shard of the "
        "state (hide the wrapped module from parameters(), e.g. keep it in a list, and drop its "
        "own parameters)"
    )
    shard = params[0]
    assert isinstance(shard, nn.Parameter) and shard.requires_grad, (
        "the shard must be an nn.Parameter that requires grad"
    )
    held = shard.untyped_storage().nbytes() // shard.element_size()
    assert held <= shard.numel(), (
        f"the shard is a view of a {held}-element storage (the padded flat vector?), which it "
        "keeps alive whole: make it its own tensor (clone the slice)"
    )
    assert tuple(shard.shape) == (S,), (
        f"the shard has shape {tuple(shard.shape)}; expected ({S},): S = ceil(P/W) "
        f"= ceil({P}/{world}), the flat parameters zero-padded to W·S = {world * S} and cut "
        "into W equal slices"
    )
    return shard


def _assert_freed(nbytes, rank, when):
    assert nbytes < LIMIT_BYTES, (
        f"rank {rank}: {when}, tensors of {nbytes // 4} float32 elements are alive beyond "
        f"the shard and its grad (the full parameters are P = {P}); between steps FSDP keeps "
        f"less than P/2 = {P // 2}: free the gathered parameters once forward and backward "
        "are done with them (do not leave them as module attributes), and drop the module's "
        "original parameters"
    )


def _connected(out):
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "fsdp(x)'s output does not require grad: the gathered parameters are not connected to "
        "the shard in autograd, so backward can never give the shard a gradient (gather inside "
        "a torch.autograd.Function, or hook the gathered tensor's gradient)"
    )


def _layout_and_step(rank, world, impl, seed, x, y):
    """In a rank: wrap, check the shard, one forward and backward on this rank's slice."""
    base = _alive()
    wrapper = call(impl.FSDP, Net(seed), what="FSDP")
    assert isinstance(wrapper, nn.Module), "FSDP(module) must be an nn.Module"
    shard = _the_shard(wrapper, rank, world)
    values = shard.detach().clone()
    part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    out = wrapper(x[part])
    _connected(out)
    output = out.detach().clone()
    _loss(out, y[part]).backward()
    grad = None if shard.grad is None else shard.grad.detach().clone()
    del out
    extra = _held(base, [shard, shard.grad, x, y, values, output, grad])
    return values, output, grad, extra


@pytest.mark.parametrize("world", [2, 3, 4])
def test_shard_forward_and_gradient(impl, device, world):
    seed = 10 + world
    x, y = _batch(world, seed)
    results = run_world(
        _layout_and_step, world, impl, seed, x, y, what=f"{world} ranks, one step"
    )
    model = Net(seed)
    flat = _padded(_flat(model), world)
    S = _size(world)
    local_grads = []
    for rank in range(world):
        model.zero_grad()
        part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        _loss(model(x[part]), y[part]).backward()
        local_grads.append(_padded(_flat_grad(model), world))
    mean_grad = torch.stack(local_grads).mean(0)
    for rank, (values, output, grad, extra) in enumerate(results):
        mine = slice(rank * S, (rank + 1) * S)
        assert_close_diagnosed(
            values,
            flat[mine],
            lambda mine=mine: [
                (
                    "the zero padding went in front of the parameters instead of after them",
                    torch.cat([flat.new_zeros(world * S - P), _flat(model)])[mine],
                ),
            ],
            context=f"rank {rank} of {world}: the shard's values, elements [{rank * S}, "
            f"{(rank + 1) * S}) of the flat, zero-padded parameters (P = {P}, S = {S})",
        )
        part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        with torch.no_grad():
            expected = Net(seed)(x[part])
        assert_close(
            output,
            expected,
            context=f"rank {rank} of {world}: fsdp(x) vs the unsharded module on this rank's x",
        )
        assert grad is not None, (
            f"rank {rank} of {world}: after loss.backward() the shard's .grad is None: backward "
            "must reach the shard with no extra call (gather it inside autograd, e.g. a "
            "torch.autograd.Function whose backward reduce-scatters the gradient)"
        )
        assert_close_diagnosed(
            grad,
            mean_grad[mine],
            lambda rank=rank, mine=mine: [
                (
                    (
                        "the gradient was not averaged over ranks: the shard holds this rank's "
                        "own gradient slice (reduce-scatter or all-reduce it, then divide by W)"
                    ),
                    local_grads[rank][mine],
                ),
                (
                    "summed over ranks but not divided by the world size",
                    mean_grad[mine] * world,
                ),
            ],
            context=f"rank {rank} of {world}: the shard's grad after backward, elements "
            f"[{rank * S}, {(rank + 1) * S}) of the mean gradient over ranks",
        )
        _assert_freed(extra, rank, "after one forward and backward")


def _train(rank, world, impl, seed, x, y, steps, lr):
    base = _alive()
    wrapper = call(impl.FSDP, Net(seed), what="FSDP")
    shard = _the_shard(wrapper, rank, world)
    part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    held = []
    for _ in range(steps):
        for p in wrapper.parameters():
            p.grad = None
        out = wrapper(x[part])
        _connected(out)
        loss = _loss(out, y[part])
        del out
        loss.backward()
        del loss
        # plain SGD by hand (torch.optim imports torch._dynamo: seconds)
        with torch.no_grad():
            for p in wrapper.parameters():
                p -= lr * p.grad
        held.append(_held(base, [shard, shard.grad, x, y]))
    return shard.detach().clone(), held


def test_sgd_equals_unsharded_training_and_memory_between_steps(impl, device):
    world, steps, lr, seed = 3, 3, 0.2, 21
    x, y = _batch(world, seed)
    results = run_world(
        _train, world, impl, seed, x, y, steps, lr, what="3 ranks, 3 SGD steps"
    )
    model = Net(seed)
    for _ in range(steps):
        model.zero_grad()
        _loss(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    gathered = torch.cat([shard for shard, _ in results])[:P]
    assert_close(
        gathered,
        _flat(model),
        context=f"the {world} shards after {steps} SGD steps, concatenated, vs the unsharded "
        "module trained on the whole batch",
    )
    for rank, (_, held) in enumerate(results):
        for step, nbytes in enumerate(held):
            _assert_freed(nbytes, rank, f"after SGD step {step + 1}")
