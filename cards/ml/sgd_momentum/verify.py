"""Verifier for SGD with momentum: step by step against torch.optim.SGD run in float64 on the
CPU from the same start, on a loss whose gradients change with the parameters and the step.

Covered: every option alone and combined, zero_grad in both modes (a momentum buffer that
aliases .grad is zeroed by zero_grad(set_to_none=False)), param groups with their own options,
an lr edited mid-run, the state's `momentum_buffer`, closures, parameters without a gradient,
and resuming from state_dict() (the attempt's own, and torch's).

A failed comparison names the classic mistake it matches: each is simulated in float64 from
the same start with that one rule changed (first buffer dampened or started at zero, lr kept
inside the buffer, decay after momentum, Nesterov's look-ahead missing, ...)."""

import copy

import pytest
import torch

from cards.checks import assert_close, assert_close_diagnosed, call, generator

SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def _start(seed):
    """Initial values, targets and curvatures per parameter (float64, CPU)."""
    g = generator(seed)
    init = [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]
    target = [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]
    curv = [torch.rand(s, generator=g, dtype=torch.float64) + 0.5 for s in SHAPES]
    return init, target, curv


def _loss(params, k, data, skip=()):
    """A loss whose gradient depends on the parameters and on the step k."""
    _, target, curv = data
    total = 0.0
    for i, p in enumerate(params):
        if i in skip:
            continue
        t, c = target[i].to(p), curv[i].to(p)
        total = total + (c * (p - t) ** 2).sum() + 0.3 * torch.cos((k + 1) * p).sum()
    return total


def _params(data, device, dtype):
    return [p.clone().to(device=device, dtype=dtype).requires_grad_() for p in data[0]]


def _train(opt, params, data, steps, k0=0, set_to_none=True, edits=None, skip=()):
    """Run `steps` steps; returns a snapshot of every parameter after each step (CPU)."""
    snaps = []
    for k in range(k0, k0 + steps):
        if edits and k in edits:
            for group in opt.param_groups:
                group.update(edits[k])
        opt.zero_grad(set_to_none=set_to_none)
        _loss(params, k, data, skip).backward()
        opt.step()
        snaps.append([p.detach().to("cpu", torch.float64).clone() for p in params])
    return snaps


def _groups(params, groups):
    """params as the optimiser receives them: a list, or param-group dicts of index lists."""
    if groups is None:
        return params
    return [{**g, "params": [params[i] for i in g["params"]]} for g in groups]


def _reference(data, config, steps, groups=None, edits=None, skip=()):
    params = _params(data, "cpu", torch.float64)
    opt = torch.optim.SGD(_groups(params, groups), **config)
    return _train(opt, params, data, steps, edits=edits, skip=skip)


# -- the classic mistakes, simulated in float64 ----------------------------------------------

FIRST_BUFFER = (
    "the first momentum buffer was not the gradient itself: torch starts with buf = g (a "
    "copy), without dampening and without a zero start, then buf = momentum*buf + (1-dampening)*g"
)
LR_IN_BUFFER = (
    "lr was folded into the momentum buffer (buf = momentum*buf + lr*g; p -= buf): torch "
    "keeps lr out of the buffer (p -= lr*buf), which differs once lr changes"
)
DECAY_AFTER = (
    "weight decay was added after momentum: add weight_decay*p to the gradient first, then "
    "update the buffer"
)
NESTEROV = "Nesterov's step was wrong: the update direction is g + momentum*buf (with the new buffer)"
NO_NESTEROV = "nesterov=True was ignored: the update used the buffer itself"
NO_DAMPENING = "dampening was ignored: buf = momentum*buf + (1 - dampening)*g"
EMA = "the buffer was an average (momentum*buf + (1-momentum)*g): torch adds (1 - dampening)*g"
NO_DECAY = "weight_decay was ignored: the gradient is g + weight_decay*p"
DECAY_SIGN = "weight decay had the wrong sign: g + weight_decay*p"
ALIAS = (
    "the momentum buffer aliases p.grad (buf = p.grad without a copy): zero_grad("
    "set_to_none=False) and backward then write into the buffer; store g.clone()"
)
NO_MOMENTUM = "momentum was ignored: the step used the gradient alone"
LR_FROZEN = (
    "an lr edited in param_groups was ignored: read group['lr'] at every step, not once in "
    "__init__"
)


def _sim(data, config, steps, bug=None, groups=None, edits=None, set_to_none=True):
    """A float64 simulation of SGD with one rule changed by `bug` (None: torch's rules)."""
    params = _params(data, "cpu", torch.float64)
    idx = groups or [{"params": list(range(len(params)))}]
    groups = [{**config, **{k: v for k, v in g.items()}} for g in idx]
    groups = [
        {
            "lr": 1e-3,
            "momentum": 0.0,
            "dampening": 0.0,
            "weight_decay": 0.0,
            "nesterov": False,
            **g,
        }
        for g in groups
    ]
    bufs = {}
    snaps = []
    grads = [None] * len(params)
    for k in range(steps):
        if edits and k in edits and bug != "lr_frozen":
            for g in groups:
                g.update(edits[k])
        for p in params:
            p.grad = None
        loss = _loss(params, k, data)
        new = torch.autograd.grad(loss, params)
        for i, gnew in enumerate(new):
            if bug == "alias" and not set_to_none and grads[i] is not None:
                grads[i].zero_().add_(gnew)  # zeroed in place, then accumulated into
            else:
                grads[i] = gnew.clone()
        with torch.no_grad():
            for group in groups:
                lr, m, d, wd = (
                    group["lr"],
                    group["momentum"],
                    group["dampening"],
                    group["weight_decay"],
                )
                for i in group["params"]:
                    p, g = params[i], grads[i]
                    if bug == "decay_sign":
                        g = g - wd * p
                    elif bug not in ("decay_after", "no_decay") and wd != 0:
                        g = g + wd * p
                    if m != 0 and bug != "no_momentum":
                        if i not in bufs:
                            if bug == "first_buffer":
                                bufs[i] = (1 - d) * g
                            elif bug == "lr_in_buffer":
                                bufs[i] = lr * g
                            elif bug == "alias":
                                bufs[i] = g if wd == 0 else g.clone()
                            else:
                                bufs[i] = g.clone()
                        else:
                            scale = {
                                "no_dampening": 1.0,
                                "ema": 1 - m,
                                "lr_in_buffer": lr * (1 - d),
                            }.get(bug, 1 - d)
                            bufs[i].mul_(m).add_(g * scale)
                        buf = bufs[i]
                        if group["nesterov"] and bug != "no_nesterov":
                            step = buf * m if bug == "nesterov" else g + m * buf
                            if bug == "lr_in_buffer":
                                step = lr * g + m * buf
                        else:
                            step = buf
                        if bug == "lr_in_buffer":
                            p -= step
                        else:
                            p -= lr * step
                    else:
                        p -= lr * g
                    if bug == "decay_after":
                        p -= lr * wd * p
        snaps.append([p.detach().clone() for p in params])
    return snaps


BUGS = {
    FIRST_BUFFER: "first_buffer",
    LR_IN_BUFFER: "lr_in_buffer",
    DECAY_AFTER: "decay_after",
    NESTEROV: "nesterov",
    NO_NESTEROV: "no_nesterov",
    NO_DAMPENING: "no_dampening",
    EMA: "ema",
    NO_DECAY: "no_decay",
    DECAY_SIGN: "decay_sign",
    ALIAS: "alias",
    NO_MOMENTUM: "no_momentum",
    LR_FROZEN: "lr_frozen",
}


def _compare(
    got,
    expected,
    data,
    config,
    context,
    groups=None,
    edits=None,
    set_to_none=True,
    dtype=torch.float64,
):
    """Parameters after each step equal the reference's; on the first mismatch, the classic
    mistake whose simulated trajectory the attempt follows is named."""
    assert len(got) == len(expected)
    for k, (g_step, e_step) in enumerate(zip(got, expected)):
        for i, (g, e) in enumerate(zip(g_step, e_step)):

            def variants(k=k, i=i):
                return [
                    (
                        why,
                        lambda bug=bug: _sim(
                            data,
                            config,
                            k + 1,
                            bug,
                            groups,
                            edits,
                            set_to_none,
                        )[k][i],
                    )
                    for why, bug in BUGS.items()
                ]

            atol, rtol = (1e-9, 1e-7) if dtype == torch.float64 else (2e-5, 2e-4)
            assert_close_diagnosed(
                g,
                e,
                variants,
                what=f"parameter {i} (shape {tuple(SHAPES[i])}) after step {k + 1}",
                atol=atol,
                rtol=rtol,
                check_dtype=False,
                context=context,
            )


def _attempt(impl, data, config, steps, device, dtype=torch.float64, groups=None, **kw):
    params = _params(data, device, dtype)
    opt = call(impl.SGD, _groups(params, groups), **config, what="SGD")
    return opt, params, _train(opt, params, data, steps, **kw)


CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.1},
    {"lr": 0.1, "weight_decay": 0.2},
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05, "nesterov": True},
    {"lr": 0.03, "momentum": 0.7, "dampening": 0.2, "weight_decay": 0.3},
]


def _id(config):
    return ",".join(f"{k}={v}" for k, v in config.items())


@pytest.mark.parametrize("set_to_none", [True, False], ids=["none", "zeros"])
@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_trajectory_matches_torch(impl, device, config, set_to_none):
    data = _start(0)
    _, params, got = _attempt(impl, data, config, 6, device, set_to_none=set_to_none)
    expected = _reference(data, config, 6)
    ctx = f"SGD({_id(config)}), zero_grad(set_to_none={set_to_none}), float64"
    _compare(got, expected, data, config, ctx, set_to_none=set_to_none)
    for p in params:
        assert p.device.type == device and p.dtype == torch.float64, (
            "the parameters changed device or dtype: update them in place"
        )


@pytest.mark.parametrize("config", [CONFIGS[3], CONFIGS[5]], ids=_id)
def test_step_leaves_grad_unchanged(impl, device, config):
    """p.grad is the caller's: weight decay and momentum go into a new tensor, never into it."""
    data = _start(3)
    params = _params(data, device, torch.float64)
    opt = call(impl.SGD, params, **config, what="SGD")
    for step in range(2):
        grads = [
            torch.randn(p.shape, generator=generator(40 + step), dtype=p.dtype)
            for p in params
        ]
        for p, g in zip(params, grads):
            p.grad = g.to(device, copy=True)  # a copy: g stays the value to compare
        opt.step()
        for i, (p, g) in enumerate(zip(params, grads)):
            assert torch.equal(p.grad.cpu(), g), (
                f"SGD({_id(config)}): step {step + 1} changed parameter {i}'s .grad in place "
                "(weight decay or momentum added into p.grad?): compute d_p = p.grad + wd * p "
                "as a new tensor and leave p.grad as the caller set it"
            )


def test_float32_and_defaults(impl, device):
    data = _start(1)
    params = _params(data, device, torch.float32)
    opt = call(impl.SGD, params, what="SGD")
    group = opt.param_groups[0]
    for key, value in {
        "lr": 1e-3,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
    }.items():
        assert key in group and group[key] == value, (
            f"param_groups[0][{key!r}] should default to {value!r}, got {group.get(key)!r}"
        )
    got = _train(opt, params, data, 3)
    _compare(
        got,
        _reference(data, {}, 3),
        data,
        {},
        "SGD(params), float32",
        dtype=torch.float32,
    )
    config = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}
    _, params, got = _attempt(impl, data, config, 5, device, torch.float32)
    _compare(
        got,
        _reference(data, config, 5),
        data,
        config,
        f"SGD({_id(config)}), float32",
        dtype=torch.float32,
    )
    assert all(p.dtype == torch.float32 for p in params)


def test_params_as_generator_and_module(impl, device):
    data = _start(2)
    params = _params(data, device, torch.float64)
    config = {"lr": 0.1, "momentum": 0.9}
    opt = call(impl.SGD, (p for p in params), **config, what="SGD")
    got = _train(opt, params, data, 3)
    _compare(
        got, _reference(data, config, 3), data, config, "params given as a generator"
    )
    model = torch.nn.Linear(3, 2).to(device=device, dtype=torch.float64)
    opt = call(impl.SGD, model.parameters(), lr=0.1, what="SGD")
    before = model.weight.detach().clone()
    model(torch.ones(4, 3, device=device, dtype=torch.float64)).sum().backward()
    opt.step()
    assert_close(
        model.weight.detach(),
        before - 0.1 * model.weight.grad,
        what="Linear weight after one step from model.parameters()",
    )


GROUPS = [
    {"params": [0, 2], "lr": 0.2, "momentum": 0.5},
    {"params": [1, 3], "dampening": 0.4, "nesterov": False},
]


def test_param_groups(impl, device):
    data = _start(3)
    config = {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}
    opt, _, got = _attempt(impl, data, config, 5, device, groups=GROUPS)
    expected = _reference(data, config, 5, groups=GROUPS)
    _compare(
        got,
        expected,
        data,
        config,
        "two param groups with their own lr, momentum, dampening",
        groups=GROUPS,
    )
    assert len(opt.param_groups) == 2, (
        "expected one entry in param_groups per group given"
    )
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[1]["lr"] == 0.05, (
        "a group's own lr must win; a group without one takes the default"
    )


def test_lr_edited_mid_run(impl, device):
    data = _start(4)
    config = {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}
    edits = {2: {"lr": 0.02}, 4: {"lr": 0.3}}
    _, _, got = _attempt(impl, data, config, 6, device, edits=edits)
    expected = _reference(data, config, 6, edits=edits)
    _compare(
        got,
        expected,
        data,
        config,
        "param_groups[0]['lr'] edited before steps 3 and 5",
        edits=edits,
    )


def test_state_momentum_buffer(impl, device):
    data = _start(5)
    config = {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}
    params = _params(data, device, torch.float64)
    opt = call(impl.SGD, params, **config, what="SGD")
    ref_params = _params(data, "cpu", torch.float64)
    ref = torch.optim.SGD(ref_params, **config)
    for k in range(3):
        for o, ps in ((opt, params), (ref, ref_params)):
            o.zero_grad()
            _loss(ps, k, data).backward()
            o.step()
        for i, (p, q) in enumerate(zip(params, ref_params)):
            state = opt.state.get(p, {})
            assert "momentum_buffer" in state, (
                f"opt.state[param] has no 'momentum_buffer' after step {k + 1} (keys: "
                f"{sorted(state)}): keep the buffer in self.state[p]['momentum_buffer'], as torch"
            )
            want = ref.state[q]["momentum_buffer"].to(device)
            got = state["momentum_buffer"]
            # named only when the buffer is the classic one: dampened on the first step
            dampened = (
                k == 0
                and isinstance(got, torch.Tensor)
                and got.shape == want.shape
                and torch.allclose(got, (1 - config["dampening"]) * want)
            )
            assert_close(
                got,
                want,
                what=f"state[param {i}]['momentum_buffer'] after step {k + 1}",
                context=FIRST_BUFFER if dampened else "",
            )


def test_closure(impl, device):
    data = _start(6)
    config = {"lr": 0.1, "momentum": 0.9}
    params = _params(data, device, torch.float64)
    opt = call(impl.SGD, params, **config, what="SGD")
    calls, losses = [], []

    def closure():
        calls.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = _loss(params, len(calls) - 1, data)
        loss.backward()
        losses.append(loss)
        return loss

    got = []
    for k in range(3):
        out = opt.step(closure)
        assert out is not None and losses and out is losses[-1], (
            "step(closure) must return the loss the closure returned"
        )
        got.append([p.detach().to("cpu", torch.float64).clone() for p in params])
    assert calls == [True] * 3, (
        "the closure must be called exactly once per step, with gradients enabled "
        f"(got calls: {calls})"
    )
    _compare(got, _reference(data, config, 3), data, config, "step(closure)")


def test_parameter_without_grad_is_skipped(impl, device):
    data = _start(7)
    config = {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.2}
    params = _params(data, device, torch.float64)
    opt = call(impl.SGD, params, **config, what="SGD")
    ref_params = _params(data, "cpu", torch.float64)
    ref = torch.optim.SGD(ref_params, **config)
    # Parameter 1 never gets a gradient; parameter 2 gets one only in the first two steps.
    for k in range(4):
        skip = (1,) if k < 2 else (1, 2)
        for o, ps in ((opt, params), (ref, ref_params)):
            o.zero_grad(set_to_none=True)
            _loss(ps, k, data, skip).backward()
            o.step()
        for i, (p, q) in enumerate(zip(params, ref_params)):
            why = (
                "a parameter whose .grad is None must be skipped entirely: no weight "
                "decay, no momentum step with its old buffer"
            )
            assert_close(
                p.detach(),
                q.detach().to(device),
                what=f"parameter {i} after step {k + 1}",
                context=why if i in skip else "",
            )
    state = opt.state.get(params[1], {}) if hasattr(opt.state, "get") else {}
    assert not state, (
        "a parameter that never had a gradient got optimiser state: skip it entirely"
    )


def test_zero_grad(impl, device):
    data = _start(8)
    params = _params(data, device, torch.float64)
    opt = call(impl.SGD, params, lr=0.1, what="SGD")
    _loss(params, 0, data).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in params), (
        "zero_grad() should set every .grad to None (set_to_none=True by default)"
    )
    _loss(params, 0, data).backward()
    opt.zero_grad(set_to_none=False)
    for p in params:
        assert p.grad is not None and not p.grad.any(), (
            "zero_grad(set_to_none=False) should leave zero tensors in .grad"
        )


@pytest.mark.parametrize("source", ["attempt", "torch"])
def test_resume_from_state_dict(impl, device, source):
    data = _start(9)
    config = {
        "lr": 0.1,
        "momentum": 0.9,
        "dampening": 0.1,
        "weight_decay": 0.05,
        "nesterov": False,
    }
    edits = {2: {"lr": 0.04}}
    params = _params(data, device, torch.float64)
    if source == "attempt":
        first = call(impl.SGD, params, **config, what="SGD")
    else:
        first = torch.optim.SGD(params, **config)
    _train(first, params, data, 3, edits=edits)
    saved = copy.deepcopy(first.state_dict())
    resumed = [p.detach().clone().requires_grad_() for p in params]
    opt = call(impl.SGD, resumed, **config, what="SGD")  # built with the original lr
    call(opt.load_state_dict, saved, what="load_state_dict")
    got = _train(opt, resumed, data, 3, k0=3)
    expected = _reference(data, config, 6, edits=edits)[3:]
    what = (
        "its own state_dict()"
        if source == "attempt"
        else "torch.optim.SGD's state_dict()"
    )
    for k, (g_step, e_step) in enumerate(zip(got, expected)):
        for i, (g, e) in enumerate(zip(g_step, e_step)):
            assert_close(
                g,
                e,
                what=f"parameter {i}, {k + 1} steps after resuming",
                context=(
                    f"a fresh SGD loaded from {what} must continue the trajectory: momentum "
                    "buffers and param groups (an lr changed mid-run) come back, in torch's "
                    "layout {'state': {index: {'momentum_buffer': ...}}, 'param_groups': "
                    "[{..., 'params': [indices]}]}"
                ),
            )
