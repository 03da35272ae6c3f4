"""Verifier for data-parallel gradient averaging: W ranks over gloo (the card kit's
`run_world`), each running backward on its slice of one batch; after the attempt's call every
rank must hold the whole batch's gradient (the mean over ranks), None gradients stay None, the
parameters are untouched, and a few SGD steps equal single-process training on the whole batch.

The model is built in the verifier's process and reaches the ranks by the fork, so every rank
starts from identical parameters. A failed comparison names the mistake whose values the
gradient equals (the local gradient kept, the sum, a division by 2 or by W twice).
"""

import pytest
import torch
from torch import nn

from cards.checks import assert_close, assert_close_diagnosed, call, randn, tolerance
from cards.distributed import run_world

IN, HIDDEN, OUT = 6, 8, 3


class Net(nn.Module):
    """A small MLP with a parameter the forward never uses (grad None), a frozen one
    (requires_grad False, grad None) and a float64 one (a second dtype)."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = nn.Linear(IN, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, OUT)
        self.unused = nn.Linear(OUT, OUT)  # never called: its grads stay None
        self.frozen = nn.Parameter(torch.randn(OUT), requires_grad=False)
        self.scale = nn.Parameter(1 + 0.1 * torch.randn(OUT, dtype=torch.float64))

    def forward(self, x):
        h = torch.tanh(self.fc1(x))
        return (self.fc2(h) + self.frozen).double() * self.scale


def _batch(world: int, seed: int, per_rank: int = 4):
    x = randn((world * per_rank, IN), seed, scale=1.5)
    y = randn((world * per_rank, OUT), seed + 1, dtype=torch.float64)
    return x, y


def _loss(model, x, y):
    return ((model(x) - y) ** 2).mean()


def _grads(model) -> dict:
    return {
        n: (None if p.grad is None else p.grad.detach().clone())
        for n, p in model.named_parameters()
    }


def _one_step(rank, world, impl, model, x, y):
    """In a rank: backward on this rank's slice, then the attempt's call."""
    n = x.shape[0] // world
    part = slice(rank * n, (rank + 1) * n)
    _loss(model, x[part], y[part]).backward()
    local = _grads(model)
    params = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = call(impl.average_gradients, model)
    assert out is None, (
        f"average_gradients returned {type(out).__name__}: it must return None and change "
        "the gradients in place (p.grad)"
    )
    changed = [
        k for k, v in model.state_dict().items() if not torch.equal(v, params[k])
    ]
    assert not changed, (
        f"average_gradients changed the parameters ({', '.join(changed)}): "
        "average the gradients (p.grad), leave the parameters (p.data) alone"
    )
    return local, _grads(model)


def _whole_batch_grads(model, x, y) -> dict:
    model.zero_grad(set_to_none=True)
    _loss(model, x, y).backward()
    grads = _grads(model)
    model.zero_grad(set_to_none=True)
    return grads


def _check_grads(world, results, expected, context):
    locals_ = [r[0] for r in results]
    for rank, (_, got) in enumerate(results):
        for name, want in expected.items():
            where = f"rank {rank} of {world}, {name}.grad, {context}"
            if want is None:
                assert got[name] is None, (
                    f"[{where}]: expected None (the forward never used this parameter, or it "
                    f"is frozen), got a tensor: a None gradient must stay None, not become zeros"
                )
                continue
            assert got[name] is not None, (
                f"[{where}]: the gradient became None; it must become the mean over ranks"
            )
            total = sum(r[name] for r in locals_)

            def variants(name=name, total=total, rank=rank):
                return [
                    (
                        (
                            "the gradients were not averaged: each rank kept its own local "
                            "gradient (all-reduce p.grad itself, not p.data or a copy that is "
                            "never written back)"
                        ),
                        locals_[rank][name],
                    ),
                    (
                        "summed over ranks but not divided by the world size",
                        total,
                    ),
                    (
                        "divided by 2 instead of the world size (dist.get_world_size())",
                        total / 2,
                    ),
                    (
                        "divided by the world size twice",
                        total / world**2,
                    ),
                ]

            # against the whole batch: float32 precision for every parameter (the float32
            # layers under `scale` round differently for a slice than for the whole batch)
            atol, rtol = tolerance(torch.float32)
            assert_close_diagnosed(
                got[name], want, variants, atol=atol, rtol=rtol, context=where
            )
            if want.dtype == torch.float64:
                # against the ranks' own gradients: an all-reduce in float64 is exact to ~1e-16
                mean = total / world
                assert torch.allclose(got[name], mean, atol=1e-12, rtol=1e-10), (
                    f"[{where}]: right to float32 precision only (max abs error "
                    f"{(got[name] - mean).abs().max().item():.2e} from the mean of the ranks' "
                    "float64 gradients): a float64 gradient went through float32 (one flat "
                    "float32 buffer?); reduce each dtype in its own dtype"
                )


@pytest.mark.parametrize("world", [2, 3, 4])
def test_gradients_become_the_mean_over_ranks(impl, device, world):
    model = Net(seed=world)
    x, y = _batch(world, seed=10 * world)
    expected = _whole_batch_grads(model, x, y)
    results = run_world(
        _one_step, world, impl, model, x, y, what=f"{world} ranks, one backward"
    )
    _check_grads(world, results, expected, "after one backward")


def _sgd_step(model, lr):
    # By hand: torch.optim's first use imports torch._dynamo (seconds in every rank).
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad


def _train(rank, world, impl, model, x, y, steps, lr):
    n = x.shape[0] // world
    part = slice(rank * n, (rank + 1) * n)
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        _loss(model, x[part], y[part]).backward()
        call(impl.average_gradients, model)
        _sgd_step(model, lr)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_equals_single_process_training(impl, device):
    world, steps, lr = 3, 4, 0.2
    model = Net(seed=7)
    x, y = _batch(world, seed=70)
    results = run_world(
        _train, world, impl, model, x, y, steps, lr, what="3 ranks, 4 SGD steps"
    )
    single = Net(seed=7)  # the same initial parameters, trained on the whole batch
    for _ in range(steps):
        single.zero_grad(set_to_none=True)
        _loss(single, x, y).backward()
        _sgd_step(single, lr)
    for rank, params in enumerate(results):
        for name, want in single.state_dict().items():
            assert_close(
                params[name],
                want,
                atol=1e-5,
                rtol=1e-4,
                context=f"rank {rank}, parameter {name} after {steps} SGD steps on 3 ranks "
                "vs single-process training on the whole batch",
            )


def test_second_backward_on_other_data(impl, device):
    # Called again after a fresh backward on new data: nothing may carry over between calls.
    world = 2
    model = Net(seed=3)

    def two_steps(rank, world, impl, model, x1, y1, x2, y2):
        _one_step(rank, world, impl, model, x1, y1)
        model.zero_grad(set_to_none=True)
        return _one_step(rank, world, impl, model, x2, y2)

    x1, y1 = _batch(world, seed=30)
    x2, y2 = _batch(world, seed=31)
    expected = _whole_batch_grads(model, x2, y2)
    results = run_world(
        two_steps, world, impl, model, x1, y1, x2, y2, what="2 ranks, second batch"
    )
    _check_grads(world, results, expected, "second call, after a fresh backward")
