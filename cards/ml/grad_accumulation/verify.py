"""Verifier for gradient accumulation: the parameters after train_accumulated equal those of
one optimiser step per group of k micro-batches, each step taken on the group's concatenation
(a big batch), on float64 copies of the model on the CPU; the returned losses equal the big
batches' losses.

Covered: k = 1, 2, 3 and 4, SGD with momentum (sensitive to the scale of the gradient) and Adam
(sensitive to the number of steps), a custom loss_fn, a DataLoader as `batches`, and a model
that comes in with stale gradients. A failed comparison names the classic mistake the
parameters match, simulated the same way: the loss not divided by k, a step per micro-batch,
gradients zeroed before every micro-batch, stale gradients kept."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from cards.checks import assert_close_diagnosed, call, generator


def _model(seed, device, d_in=5, d_out=3):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(d_in, 8), torch.nn.Tanh(), torch.nn.Linear(8, d_out)
    )
    return model.to(device=device, dtype=torch.float64)


def _batches(seed, n, size, device, d_in=5, classes=3, regression=False):
    g = generator(seed)
    out = []
    for _ in range(n):
        x = torch.randn(size, d_in, generator=g, dtype=torch.float64)
        if regression:
            y = torch.randn(size, classes, generator=g, dtype=torch.float64)
        else:
            y = torch.randint(0, classes, (size,), generator=g)
        out.append((x.to(device), y.to(device)))
    return out


def _opt(kind, params):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.2, momentum=0.9)
    return torch.optim.Adam(params, lr=0.05)


def _flat(model):
    return torch.cat([p.detach().reshape(-1).to("cpu") for p in model.parameters()])


def _simulate(model, kind, batches, k, loss_fn, bug=None, stale=None):
    """Float64 CPU copy of the model trained with one rule changed by `bug` (None: the big
    batch step per group). Returns (flat parameters, losses)."""
    m = copy.deepcopy(model).to("cpu")
    opt = _opt(kind, m.parameters())
    if stale is not None and bug == "stale":
        for p, s in zip(m.parameters(), stale):
            p.grad = s.detach().to("cpu").clone()
    losses = []
    groups = [batches[i : i + k] for i in range(0, len(batches), k)]
    for group in groups:
        if bug is None:
            opt.zero_grad()
            x = torch.cat([b[0].cpu() for b in group])
            y = torch.cat([b[1].cpu() for b in group])
            loss = loss_fn(m(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            continue
        if bug != "stale":
            opt.zero_grad()
        for x, y in group:
            if bug == "zero_each":
                opt.zero_grad()
            loss = loss_fn(m(x.cpu()), y.cpu())
            (loss if bug == "no_divide" else loss / k).backward()
            if bug == "step_each":
                opt.step()
                opt.zero_grad()
        if bug != "step_each":
            opt.step()
        if bug == "stale":
            opt.zero_grad()
    return _flat(m), losses


BUGS = {
    "the loss was not divided by accumulation_steps: k summed gradients are k times the big "
    "batch's; backward (loss / accumulation_steps)": "no_divide",
    "the optimiser stepped after every micro-batch: step (and zero_grad) once every "
    "accumulation_steps micro-batches": "step_each",
    "the gradients were zeroed before every micro-batch, so only the last one counted: zero "
    "them once per optimiser step": "zero_each",
    "the model's stale gradients were kept: zero the gradients before the first micro-batch "
    "(the caller's model came in with .grad already set)": "stale",
}


def _check(
    impl, device, kind, k, n_steps, size, seed, loss_fn=None, stale=False, loader=False
):
    regression = loss_fn is F.mse_loss
    model = _model(seed, device, d_out=3)
    batches = _batches(seed + 100, n_steps * k, size, device, regression=regression)
    start = copy.deepcopy(model)
    old = None
    if stale:
        g = generator(seed + 7)
        old = [
            torch.randn(p.shape, generator=g, dtype=torch.float64)
            for p in model.parameters()
        ]
        for p, s in zip(model.parameters(), old):
            p.grad = s.to(device).clone()
    opt = _opt(kind, model.parameters())
    kwargs = {} if loss_fn is None else {"loss_fn": loss_fn}
    loss_fn = loss_fn or F.cross_entropy
    arg = batches
    if loader:
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        arg = DataLoader(TensorDataset(x, y), batch_size=size, shuffle=False)
    before = [(b[0].clone(), b[1].clone()) for b in batches]
    seen = []
    handle = model.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].shape[0])
    )
    try:
        losses = call(
            impl.train_accumulated,
            model,
            opt,
            arg,
            k,
            **kwargs,
            what="train_accumulated",
        )
    finally:
        handle.remove()
    assert seen and max(seen) <= size, (
        f"the model saw a batch of {max(seen) if seen else 0} rows, but micro-batches have "
        f"{size}: accumulation runs one micro-batch per forward (concatenating them defeats "
        "its purpose, the memory)"
    )
    for (x0, y0), (x1, y1) in zip(before, batches):
        assert torch.equal(x0, x1) and torch.equal(y0, y1), "the batches were modified"
    expected, expected_losses = _simulate(start, kind, batches, k, loss_fn)
    ctx = (
        f"{n_steps * k} micro-batches of {size}, accumulation_steps={k}, "
        f"{'SGD(momentum=0.9)' if kind == 'sgd' else 'Adam'}"
        + (", stale .grad on entry" if stale else "")
        + (", batches from a DataLoader" if loader else "")
    )
    assert_close_diagnosed(
        _flat(model),
        expected,
        lambda: {
            why: _simulate(start, kind, batches, k, loss_fn, bug, old)[0]
            for why, bug in BUGS.items()
        },
        what="the parameters after training (flattened)",
        atol=1e-9,
        rtol=1e-7,
        context=ctx,
    )
    assert isinstance(losses, list) and len(losses) == n_steps, (
        f"[{ctx}] train_accumulated should return a list of one loss per optimiser step "
        f"({n_steps}), got {type(losses).__name__} of length "
        f"{len(losses) if hasattr(losses, '__len__') else '?'}"
    )
    for i, (got, want) in enumerate(zip(losses, expected_losses)):
        assert isinstance(got, float), (
            f"[{ctx}] loss {i} should be a Python float (loss.item()), got {type(got).__name__}"
        )
        if abs(got - want) > 1e-9 + 1e-7 * abs(want):
            hint = ""
            if abs(got * k - want) <= 1e-7 * abs(want):
                hint = (
                    "; it equals the mean divided by accumulation_steps: report the unscaled "
                    "mean of the micro-batch losses"
                )
            raise AssertionError(
                f"[{ctx}] loss of optimiser step {i}: got {got:.8g}, expected {want:.8g} "
                f"(the mean of its {k} micro-batch losses = the big batch's loss){hint}"
            )


@pytest.mark.parametrize(
    "kind,k", [("sgd", 1), ("sgd", 2), ("sgd", 4), ("adam", 3)], ids=str
)
def test_equals_big_batch_steps(impl, device, kind, k):
    _check(impl, device, kind, k, n_steps=3, size=4, seed=k)


def test_custom_loss_fn(impl, device):
    _check(impl, device, "sgd", 3, n_steps=2, size=5, seed=11, loss_fn=F.mse_loss)


def test_dataloader_batches(impl, device):
    _check(impl, device, "sgd", 2, n_steps=3, size=3, seed=12, loader=True)


def test_stale_gradients_on_entry(impl, device):
    _check(impl, device, "sgd", 2, n_steps=2, size=4, seed=13, stale=True)
