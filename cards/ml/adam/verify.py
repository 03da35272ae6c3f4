"""Verifier for Adam and AdamW: step by step against torch.optim.Adam / AdamW run in float64 on
the CPU from the same start, on a loss whose gradients change with the parameters and the step.

Covered: the defaults, every option alone and combined (a large eps too, where its place
shows), amsgrad, param groups, an lr edited mid-run, the state's torch key names, closures,
parameters without a gradient (the step count is per parameter), zero_grad, and resuming from
state_dict() (the attempt's own, and torch's).

A failed comparison names the classic mistake it matches: each is simulated in float64 from
the same start with that one rule changed (no bias correction, eps inside the square root or
before the bias correction, AdamW's decay in the gradient, Adam's decay decoupled, amsgrad's
max over the corrected v, one step counter for all parameters, ...)."""

import copy
import math

import pytest
import torch

from cards.checks import assert_close, assert_close_diagnosed, call, generator

SHAPES = [(3, 4), (5,), (), (2, 1, 3)]


def _start(seed):
    """Initial values, targets and curvatures per parameter (float64, CPU)."""
    g = generator(seed)
    init = [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]
    target = [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]
    curv = [torch.rand(s, generator=g, dtype=torch.float64) * 3 + 0.1 for s in SHAPES]
    return init, target, curv


def _loss(params, k, data, skip=()):
    """A loss whose gradient depends on the parameters and on the step k, with gradients of
    different sizes per element (so that Adam's normalisation shows)."""
    _, target, curv = data
    total = 0.0
    for i, p in enumerate(params):
        if i in skip:
            continue
        t, c = target[i].to(p), curv[i].to(p)
        total = total + (c * (p - t) ** 2).sum() + 0.3 * torch.cos((k + 1) * p).sum()
    return total


def _skip(schedule, k):
    return tuple(i for i, steps in (schedule or {}).items() if k not in steps)


def _params(data, device, dtype):
    return [p.clone().to(device=device, dtype=dtype).requires_grad_() for p in data[0]]


def _train(opt, params, data, steps, k0=0, set_to_none=True, edits=None, schedule=None):
    """Run `steps` steps; returns a snapshot of every parameter after each step (CPU).
    `schedule`: {param index: the steps at which it has a gradient}."""
    snaps = []
    for k in range(k0, k0 + steps):
        if edits and k in edits:
            for group in opt.param_groups:
                group.update(edits[k])
        opt.zero_grad(set_to_none=set_to_none)
        _loss(params, k, data, _skip(schedule, k)).backward()
        opt.step()
        snaps.append([p.detach().to("cpu", torch.float64).clone() for p in params])
    return snaps


def _groups(params, groups):
    if groups is None:
        return params
    return [{**g, "params": [params[i] for i in g["params"]]} for g in groups]


TORCH = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}


def _reference(name, data, config, steps, groups=None, edits=None, schedule=None):
    params = _params(data, "cpu", torch.float64)
    opt = TORCH[name](_groups(params, groups), **config)
    return _train(opt, params, data, steps, edits=edits, schedule=schedule)


# -- the classic mistakes, simulated in float64 ----------------------------------------------

NO_BIAS = "bias correction is missing: use m_hat = m / (1 - beta1^t) and v_hat = v / (1 - beta2^t)"
EPS_INSIDE = (
    "eps was added inside the square root: the denominator is sqrt(v_hat) + eps"
)
EPS_HAT = (
    "eps was added to sqrt(v) before the bias correction (the paper's folded step size "
    "lr*sqrt(1-beta2^t)/(1-beta1^t)): torch adds eps to sqrt(v_hat)"
)
ADAMW_COUPLED = (
    "AdamW added weight_decay*p to the gradient (that is Adam's L2 decay): AdamW shrinks the "
    "parameter directly, p *= 1 - lr*weight_decay, outside the moments"
)
ADAM_DECOUPLED = (
    "Adam decayed the parameter directly (AdamW's decoupled decay): Adam adds "
    "weight_decay*p to the gradient before the moments"
)
DECAY_AFTER = (
    "AdamW's decay was applied after the update (to the new p): torch shrinks the previous "
    "p, p = p*(1 - lr*weight_decay) - lr*update"
)
NO_DECAY = "weight_decay was ignored"
AMSGRAD_VHAT = (
    "amsgrad kept the max of the bias-corrected v_hat: torch keeps the max of the raw v "
    "(max_exp_avg_sq), then divides by 1 - beta2^t"
)
NO_AMSGRAD = (
    "amsgrad=True was ignored: use the running max of exp_avg_sq in the denominator"
)
GLOBAL_STEP = (
    "one step counter for all parameters: torch counts steps per parameter (state[p]['step']), "
    "and a parameter without a gradient does not advance its count"
)
LR_FROZEN = (
    "an lr edited in param_groups was ignored: read group['lr'] at every step, not once in "
    "__init__"
)
BETAS_SWAPPED = "betas were swapped: beta1 (0.9) is for m, beta2 (0.999) for v"
NOT_SKIPPED = (
    "a parameter whose .grad is None must be skipped entirely: no weight decay, no moment "
    "update, no step with its old moments"
)

BUGS = {
    NO_BIAS: "no_bias",
    EPS_INSIDE: "eps_inside",
    EPS_HAT: "eps_hat",
    ADAMW_COUPLED: "coupled",
    ADAM_DECOUPLED: "decoupled",
    DECAY_AFTER: "decay_after",
    NO_DECAY: "no_decay",
    AMSGRAD_VHAT: "amsgrad_vhat",
    NO_AMSGRAD: "no_amsgrad",
    GLOBAL_STEP: "global_step",
    LR_FROZEN: "lr_frozen",
    BETAS_SWAPPED: "betas_swapped",
    NOT_SKIPPED: "not_skipped",
}


def _sim(name, data, config, steps, bug=None, groups=None, edits=None, schedule=None):
    """A float64 simulation of Adam (name 'Adam') or AdamW with one rule changed by `bug`."""
    params = _params(data, "cpu", torch.float64)
    defaults = {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 1e-2 if name == "AdamW" else 0.0,
        "amsgrad": False,
    }
    idx = groups or [{"params": list(range(len(params)))}]
    groups = [{**defaults, **config, **g} for g in idx]
    decoupled = name == "AdamW"
    if bug == "coupled" and decoupled or bug == "decoupled" and not decoupled:
        decoupled = not decoupled
    state = {}
    snaps = []
    for k in range(steps):
        if edits and k in edits and bug != "lr_frozen":
            for g in groups:
                g.update(edits[k])
        skip = _skip(schedule, k)
        loss = _loss(params, k, data, skip)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for group in groups:
                lr, (b1, b2) = group["lr"], group["betas"]
                if bug == "betas_swapped":
                    b1, b2 = b2, b1
                eps, wd = group["eps"], group["weight_decay"]
                if bug == "no_decay":
                    wd = 0.0
                for i in group["params"]:
                    p, g = params[i], grads[i]
                    if g is None:
                        if bug != "not_skipped":
                            continue
                        g = torch.zeros_like(p)
                    st = state.setdefault(
                        i,
                        {
                            "step": 0,
                            "m": torch.zeros_like(p),
                            "v": torch.zeros_like(p),
                            "vmax": torch.zeros_like(p),
                        },
                    )
                    st["step"] += 1
                    t = k + 1 if bug == "global_step" else st["step"]
                    if wd and decoupled and bug != "decay_after":
                        p.mul_(1 - lr * wd)
                    elif wd and not decoupled:
                        g = g + wd * p
                    st["m"] = b1 * st["m"] + (1 - b1) * g
                    st["v"] = b2 * st["v"] + (1 - b2) * g * g
                    bc1, bc2 = 1 - b1**t, 1 - b2**t
                    if bug == "no_bias":
                        bc1 = bc2 = 1.0
                    v = st["v"]
                    if group["amsgrad"] and bug != "no_amsgrad":
                        if bug == "amsgrad_vhat":
                            st["vmax"] = torch.maximum(st["vmax"], v / bc2)
                            v = st["vmax"] * bc2
                        else:
                            st["vmax"] = torch.maximum(st["vmax"], v)
                            v = st["vmax"]
                    if bug == "eps_inside":
                        upd = (st["m"] / bc1) / torch.sqrt(v / bc2 + eps)
                    elif bug == "eps_hat":
                        upd = st["m"] * math.sqrt(bc2) / bc1 / (v.sqrt() + eps)
                    else:
                        upd = (st["m"] / bc1) / ((v / bc2).sqrt() + eps)
                    p -= lr * upd
                    if wd and decoupled and bug == "decay_after":
                        p.mul_(1 - lr * wd)
        snaps.append([p.detach().clone() for p in params])
    return snaps


def _compare(got, expected, name, data, config, context, dtype=torch.float64, **kw):
    """Parameters after each step equal the reference's; on the first mismatch, the classic
    mistake whose simulated trajectory the attempt follows is named."""
    assert len(got) == len(expected)
    if dtype == torch.float64:
        atol, rtol = 1e-9, 1e-7
    else:  # several float32 roundings per step, and Adam divides by small sqrt(v)
        atol, rtol = 5e-5, 5e-4
    for k, (g_step, e_step) in enumerate(zip(got, expected)):
        for i, (g, e) in enumerate(zip(g_step, e_step)):

            def variants(k=k, i=i):
                return [
                    (
                        why,
                        lambda bug=bug: _sim(name, data, config, k + 1, bug, **kw)[k][
                            i
                        ],
                    )
                    for why, bug in BUGS.items()
                ]

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


def _make(impl, name, params, **config):
    return call(getattr(impl, name), params, **config, what=name)


def _attempt(
    impl, name, data, config, steps, device, dtype=torch.float64, groups=None, **kw
):
    params = _params(data, device, dtype)
    opt = _make(impl, name, _groups(params, groups), **config)
    return opt, params, _train(opt, params, data, steps, **kw)


def _id(config):
    return ",".join(f"{k}={v}" for k, v in config.items())


CONFIGS = [
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.95), "eps": 0.3}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.3}),
    ("Adam", {"lr": 0.1, "amsgrad": True, "betas": (0.5, 0.9)}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True, "eps": 0.1}),
    ("AdamW", {"lr": 0.1}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.5, "eps": 0.2}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True, "betas": (0.5, 0.9)}),
]


@pytest.mark.parametrize(
    "name,config", CONFIGS, ids=[f"{n}({_id(c)})" for n, c in CONFIGS]
)
def test_trajectory_matches_torch(impl, device, name, config):
    data = _start(0)
    _, params, got = _attempt(impl, name, data, config, 8, device)
    expected = _reference(name, data, config, 8)
    _compare(got, expected, name, data, config, f"{name}({_id(config)}), float64")
    for p in params:
        assert p.device.type == device and p.dtype == torch.float64, (
            "the parameters changed device or dtype: update them in place"
        )


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_defaults_float32(impl, device, name):
    data = _start(1)
    params = _params(data, device, torch.float32)
    opt = _make(impl, name, params)
    group = opt.param_groups[0]
    wd = 1e-2 if name == "AdamW" else 0.0
    expected = {"lr": 1e-3, "eps": 1e-8, "weight_decay": wd, "amsgrad": False}
    for key, value in expected.items():
        assert key in group and group[key] == value, (
            f"{name}: param_groups[0][{key!r}] should default to {value!r}, got "
            f"{group.get(key)!r}"
        )
    assert tuple(group.get("betas", ())) == (0.9, 0.999), (
        f"{name}: param_groups[0]['betas'] should default to (0.9, 0.999)"
    )
    # zero_grad(set_to_none=False) in between: zeroed grads, then accumulated into.
    got = _train(opt, params, data, 5, set_to_none=False)
    expected = _reference(name, data, {}, 5)
    _compare(got, expected, name, data, {}, f"{name}(params), float32", torch.float32)
    assert all(p.dtype == torch.float32 for p in params)


def test_params_as_generator_and_module(impl, device):
    data = _start(2)
    params = _params(data, device, torch.float64)
    config = {"lr": 0.1, "weight_decay": 0.1}
    opt = _make(impl, "Adam", (p for p in params), **config)
    got = _train(opt, params, data, 3)
    expected = _reference("Adam", data, config, 3)
    _compare(got, expected, "Adam", data, config, "params given as a generator")
    model = torch.nn.Linear(3, 2).to(device=device, dtype=torch.float64)
    ref = torch.nn.Linear(3, 2).to(torch.float64)
    ref.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    opt = _make(impl, "AdamW", model.parameters(), lr=0.1)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=0.1)
    x = torch.linspace(-1, 1, 12, dtype=torch.float64).view(4, 3)
    for _ in range(2):
        for o, m, xx in ((opt, model, x.to(device)), (ref_opt, ref, x)):
            o.zero_grad()
            (m(xx) ** 2).sum().backward()
            o.step()
    assert_close(
        model.weight.detach(),
        ref.weight.detach().to(device),
        what="Linear weight after two AdamW steps from model.parameters()",
    )


GROUPS = [
    {"params": [0, 2], "lr": 0.2, "betas": (0.5, 0.9)},
    {"params": [1, 3], "weight_decay": 0.0, "amsgrad": True},
]


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_param_groups(impl, device, name):
    data = _start(3)
    config = {"lr": 0.05, "weight_decay": 0.2}
    opt, _, got = _attempt(impl, name, data, config, 5, device, groups=GROUPS)
    expected = _reference(name, data, config, 5, groups=GROUPS)
    _compare(
        got,
        expected,
        name,
        data,
        config,
        "two param groups with their own options",
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
    config = {"lr": 0.1, "weight_decay": 0.1}
    edits = {2: {"lr": 0.02}, 4: {"lr": 0.3}}
    _, _, got = _attempt(impl, "AdamW", data, config, 6, device, edits=edits)
    expected = _reference("AdamW", data, config, 6, edits=edits)
    _compare(
        got,
        expected,
        "AdamW",
        data,
        config,
        "param_groups[0]['lr'] edited before steps 3 and 5",
        edits=edits,
    )


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_state_keys(impl, device, name):
    data = _start(5)
    config = {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1}
    params = _params(data, device, torch.float64)
    opt = _make(impl, name, params, **config)
    ref_params = _params(data, "cpu", torch.float64)
    ref = TORCH[name](ref_params, **config)
    for k in range(3):
        for o, ps in ((opt, params), (ref, ref_params)):
            o.zero_grad()
            _loss(ps, k, data).backward()
            o.step()
        for i, (p, q) in enumerate(zip(params, ref_params)):
            state = opt.state.get(p, {})
            for key in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                assert key in state, (
                    f"opt.state[param] has no {key!r} after step {k + 1} (keys: "
                    f"{sorted(state)}): use torch's names, step / exp_avg / exp_avg_sq "
                    "(and max_exp_avg_sq with amsgrad)"
                )
            assert float(state["step"]) == k + 1, (
                f"state[param]['step'] should be {k + 1} after {k + 1} steps, got "
                f"{state['step']!r}"
            )
            for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                assert_close(
                    state[key],
                    ref.state[q][key].to(device),
                    what=f"state[param {i}][{key!r}] after step {k + 1}",
                    context="the raw (not bias-corrected) moments, as torch keeps them",
                )


def test_closure(impl, device):
    data = _start(6)
    config = {"lr": 0.1}
    params = _params(data, device, torch.float64)
    opt = _make(impl, "Adam", params, **config)
    calls, losses = [], []

    def closure():
        calls.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = _loss(params, len(calls) - 1, data)
        loss.backward()
        losses.append(loss)
        return loss

    got = []
    for _ in range(3):
        out = opt.step(closure)
        assert out is not None and losses and out is losses[-1], (
            "step(closure) must return the loss the closure returned"
        )
        got.append([p.detach().to("cpu", torch.float64).clone() for p in params])
    assert calls == [True] * 3, (
        "the closure must be called exactly once per step, with gradients enabled "
        f"(got calls: {calls})"
    )
    _compare(
        got, _reference("Adam", data, config, 3), "Adam", data, config, "step(closure)"
    )


# Parameter 1 never has a gradient, parameter 2 only at steps 0-1 and 4-5, parameter 3 from
# step 2 on (its bias correction starts at t = 1 then).
SCHEDULE = {1: (), 2: (0, 1, 4, 5), 3: (2, 3, 4, 5)}


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_parameters_without_grad_are_skipped(impl, device, name):
    data = _start(7)
    config = {"lr": 0.1, "weight_decay": 0.2}
    _, _, got = _attempt(impl, name, data, config, 6, device, schedule=SCHEDULE)
    expected = _reference(name, data, config, 6, schedule=SCHEDULE)
    _compare(
        got,
        expected,
        name,
        data,
        config,
        "some parameters have .grad None at some steps",
        schedule=SCHEDULE,
    )


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_no_state_without_grad(impl, device, name):
    data = _start(8)
    params = _params(data, device, torch.float64)
    opt = _make(impl, name, params, lr=0.1)
    _loss(params, 0, data, skip=(1,)).backward()
    opt.step()
    assert not opt.state.get(params[1], {}), (
        "a parameter that never had a gradient got optimiser state: skip it entirely"
    )
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
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_resume_from_state_dict(impl, device, name, source):
    data = _start(9)
    config = {"lr": 0.1, "weight_decay": 0.05, "amsgrad": True, "eps": 0.01}
    edits = {2: {"lr": 0.04}}
    params = _params(data, device, torch.float64)
    if source == "attempt":
        first = _make(impl, name, params, **config)
    else:
        first = TORCH[name](params, **config)
    _train(first, params, data, 3, edits=edits)
    saved = copy.deepcopy(first.state_dict())
    resumed = [p.detach().clone().requires_grad_() for p in params]
    opt = _make(impl, name, resumed, **config)  # built with the original lr
    call(opt.load_state_dict, saved, what="load_state_dict")
    got = _train(opt, resumed, data, 3, k0=3)
    expected = _reference(name, data, config, 6, edits=edits)[3:]
    what = "its own state_dict()" if source == "attempt" else f"torch.optim.{name}'s"
    for k, (g_step, e_step) in enumerate(zip(got, expected)):
        for i, (g, e) in enumerate(zip(g_step, e_step)):
            assert_close(
                g,
                e,
                what=f"parameter {i}, {k + 1} steps after resuming",
                context=(
                    f"a fresh {name} loaded from {what} state dict must continue the "
                    "trajectory: step counts, moments and param groups (an lr changed "
                    "mid-run) come back, in torch's layout {'state': {index: {'step', "
                    "'exp_avg', ...}}, 'param_groups': [{..., 'params': [indices]}]} (torch "
                    "stores 'step' as a 0-dim tensor)"
                ),
            )
