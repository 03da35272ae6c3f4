"""Verifier for a mixed-precision training step: forward hooks record that every Linear ran
under autocast in the device's half dtype (bfloat16 on CPU, float16 on CUDA); the parameter
update is compared with the same step taken on a copy of the model (autocast, scaled backward,
scaler.step, scaler.update); the scaler's scale must grow after a good step (growth_interval=1)
and halve after an inf gradient, which must leave the parameters and the optimiser untouched.

The update is compared loosely (3%): where the loss is computed (inside autocast or on the half
logits) changes it by a few half-precision roundings, while the mistakes change it by the scale
factor or leak stale gradients."""

import copy
import math

import torch
import torch.nn.functional as F

from cards.checks import assert_close_diagnosed, call, generator


def _setup(seed, device, init_scale=256.0, stale=False, x_scale=1.0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)
    ).to(device)
    g = generator(seed + 1)
    x = (torch.randn(8, 6, generator=g) * x_scale).to(device)
    y = torch.randint(0, 4, (8,), generator=g).to(device)
    if stale:
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=g).to(device) * 10
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scaler = torch.amp.GradScaler(device, init_scale=init_scale, growth_interval=1)
    return model, opt, scaler, x, y


def _half(device):
    return torch.float16 if device == "cuda" else torch.bfloat16


def _reference_step(model, x, y, device, init_scale, loss_fn=F.cross_entropy):
    """The same step on a copy: returns (parameter deltas, float32 loss before the step)."""
    m = copy.deepcopy(model)
    for p in m.parameters():
        p.grad = None
    opt = torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9)
    scaler = torch.amp.GradScaler(device, init_scale=init_scale, growth_interval=1)
    before = [p.detach().clone() for p in m.parameters()]
    with torch.no_grad():
        loss32 = loss_fn(m(x), y).item()
    with torch.autocast(device_type=device, dtype=_half(device)):
        loss = loss_fn(m(x), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return _flat([p.detach() - b for p, b in zip(m.parameters(), before)]), loss32


def _flat(ts):
    return torch.cat([t.reshape(-1).float() for t in ts])


NOT_SCALED = (
    "the loss was not scaled before backward: backward scaler.scale(loss), then "
    "scaler.step(optimizer)"
)
STEP_DIRECT = (
    "optimizer.step() was called directly: the gradients were still multiplied by the scale; "
    "step through scaler.step(optimizer), which unscales them and skips inf steps"
)
# What GradScaler itself raises when it is used out of order, and the mistake behind it.
SCALER_ERRORS = {
    "_scale is None": NOT_SCALED,
    "No inf checks were recorded prior to update": STEP_DIRECT,
    "No inf checks were recorded for this optimizer": NOT_SCALED,
}


class _DtypeHooks:
    """Records the output dtype of every Linear during the attempt's forward."""

    def __init__(self, model):
        self.dtypes = []
        self.handles = [
            m.register_forward_hook(lambda _m, _i, out: self.dtypes.append(out.dtype))
            for m in model.modules()
            if isinstance(m, torch.nn.Linear)
        ]

    def remove(self):
        for h in self.handles:
            h.remove()


def _run(impl, model, opt, scaler, x, y, **kw):
    hooks = _DtypeHooks(model)
    x0, y0 = x.clone(), y.clone()
    try:
        loss = call(
            impl.amp_train_step, model, opt, scaler, x, y, **kw, what="amp_train_step"
        )
    except (AssertionError, RuntimeError) as exc:
        for words, why in SCALER_ERRORS.items():
            if words in str(exc):
                raise AssertionError(
                    f"GradScaler raised: {exc}\nlikely bug: {why}"
                ) from None
        raise
    finally:
        hooks.remove()
    assert torch.equal(x, x0) and torch.equal(y, y0), "the inputs x, y were modified"
    return loss, hooks.dtypes


def _check_autocast(dtypes, device):
    want = _half(device)
    assert dtypes, "the model's forward was never run"
    if all(d == torch.float32 for d in dtypes):
        raise AssertionError(
            "the forward did not run under autocast: every Linear returned float32; wrap the "
            f"forward and the loss in torch.autocast(device_type=x.device.type, dtype={want})"
        )
    assert all(d == want for d in dtypes), (
        f"the forward ran under autocast with the wrong dtype: Linear outputs were "
        f"{sorted({str(d) for d in dtypes})}, expected {want} on {device} (bfloat16 on CPU, "
        "float16 on CUDA)"
    )


def _check_step(model, before, expected, scale, context):
    got = _flat([p.detach() - b for p, b in zip(model.parameters(), before)])
    span = expected.abs().max().item()
    assert_close_diagnosed(
        got,
        expected,
        lambda: {STEP_DIRECT: expected * scale, NOT_SCALED: expected / scale},
        what="the parameter update (after - before, flattened)",
        atol=0.03 * span,
        rtol=0.03,
        context=context,
    )


def test_one_step(impl, device):
    model, opt, scaler, x, y = _setup(0, device)
    expected, loss32 = _reference_step(model, x, y, device, 256.0)
    before = [p.detach().clone() for p in model.parameters()]
    loss, dtypes = _run(impl, model, opt, scaler, x, y)
    _check_autocast(dtypes, device)
    assert isinstance(loss, float), (
        f"amp_train_step should return the loss as a Python float (loss.item()), got "
        f"{type(loss).__name__}"
    )
    if abs(loss - loss32 * 256.0) < 0.05 * loss32 * 256.0:
        raise AssertionError(
            f"the returned loss {loss:.5g} is the scaled one (loss * scale): return the "
            f"unscaled loss, about {loss32:.5g}"
        )
    assert abs(loss - loss32) <= 0.03 * abs(loss32) + 1e-3, (
        f"the returned loss {loss:.5g} should be the loss before the step, about {loss32:.5g}"
    )
    _check_step(model, before, expected, 256.0, "one step, GradScaler(init_scale=256)")
    assert all(p.dtype == torch.float32 for p in model.parameters()), (
        "the parameters must stay float32 (autocast casts inside ops; never .half() the model)"
    )
    assert scaler.get_scale() == 512.0, (
        f"after a good step with growth_interval=1 the scale should double to 512, got "
        f"{scaler.get_scale()}: call scaler.update() after scaler.step(optimizer)"
    )


def test_several_steps_and_custom_loss(impl, device):
    model, opt, scaler, x, y = _setup(1, device, init_scale=8.0)
    target = F.one_hot(y, 4).float()

    def loss_fn(out, t):
        return F.mse_loss(out.float(), t)

    for k in range(2):
        scale = 8.0 * 2**k
        ref = copy.deepcopy(model)
        expected, _ = _reference_step(ref, x, target, device, scale, loss_fn)
        # The attempt's optimiser has momentum from earlier steps: compare step 0 only
        # exactly, then just check that the scale keeps growing and losses stay finite.
        before = [p.detach().clone() for p in model.parameters()]
        loss, dtypes = _run(impl, model, opt, scaler, x, target, loss_fn=loss_fn)
        _check_autocast(dtypes, device)
        assert isinstance(loss, float) and math.isfinite(loss)
        if k == 0:
            _check_step(
                model, before, expected, scale, "loss_fn=mse, GradScaler(init_scale=8)"
            )
        assert scaler.get_scale() == scale * 2, (
            f"after good step {k + 1} the scale should be {scale * 2}, got "
            f"{scaler.get_scale()}: call scaler.update() once per step"
        )


def test_inf_gradient_skips_the_step(impl, device):
    # A scale of 2^127 and large inputs: some scaled gradients overflow to inf.
    model, opt, scaler, x, y = _setup(2, device, init_scale=2.0**127, x_scale=100.0)
    before = [p.detach().clone() for p in model.parameters()]
    loss, _ = _run(impl, model, opt, scaler, x, y)
    assert isinstance(loss, float) and math.isfinite(loss), (
        f"the returned loss should be the finite, unscaled loss, got {loss!r}"
    )
    for i, (p, b) in enumerate(zip(model.parameters(), before)):
        assert torch.equal(p.detach(), b), (
            f"parameter {i} changed although the gradients were inf: step through "
            "scaler.step(optimizer), which skips the step when it finds inf/NaN gradients"
        )
    assert not any(opt.state[p] for p in model.parameters()), (
        "the optimiser's state changed although the step should have been skipped"
    )
    assert scaler.get_scale() == 2.0**126, (
        f"after an inf gradient the scale should be halved to 2^126, got "
        f"{scaler.get_scale():.3g}: call scaler.update() after scaler.step(optimizer)"
    )


def test_stale_gradients_are_zeroed(impl, device):
    model, opt, scaler, x, y = _setup(3, device, init_scale=2.0, stale=True)
    expected, _ = _reference_step(model, x, y, device, 2.0)
    before = [p.detach().clone() for p in model.parameters()]
    _run(impl, model, opt, scaler, x, y)
    try:
        _check_step(model, before, expected, 2.0, "the model came in with stale .grad")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nlikely bug: the stale gradients were not zeroed first: call "
            "optimizer.zero_grad() at the start of the step"
        ) from None
