"""Verifier for selective_scan: the recurrence in float64 from the attempt's inputs, with and
without D, for L = 1, odd sizes and non-contiguous inputs, in float16 / bfloat16 over a long
sequence with Δ·A ≈ −0.01 (where a state kept in half precision drifts by several percent),
and gradients to all six inputs.

Failures name the classic mistakes: softplus applied to delta, delta missing from the input
term, exp(A)·delta instead of exp(delta·A), y read before the update, B and C swapped, D
ignored, the state not carried."""

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    tolerance,
)


def inputs(
    b,
    d,
    n,
    L,
    seed,
    device,
    dtype=torch.float32,
    with_d=True,
    small_delta=False,
    param_dtype=None,
):
    """Mamba-like inputs: A = -exp(.) < 0, delta > 0; drawn in float64 on the CPU."""
    g = generator(seed)
    r = lambda *s: torch.randn(s, generator=g, dtype=torch.float64)
    if small_delta:
        # a slow, steady state: delta constant in time, Δ·|A| in [0.0025, 0.0225], positive
        # inputs; exp(Δ·A) ≈ 0.99 rounded to half precision biases 1 − a by several percent
        delta = 0.005 + 0.01 * torch.rand(b, d, 1, generator=g, dtype=torch.float64)
        delta = delta.expand(b, d, L).contiguous()
        A = -(0.5 + torch.rand(d, n, generator=g, dtype=torch.float64))
        u, B = 1 + 0.2 * r(b, d, L), 1 + 0.2 * r(b, n, L)
        C = 0.5 + 0.1 * r(b, n, L)
    else:
        u = r(b, d, L)
        delta = torch.nn.functional.softplus(r(b, d, L))
        A = -torch.exp(0.5 * r(d, n))
        B, C = r(b, n, L), r(b, n, L)
    D = r(d) if with_d else None
    pd = param_dtype or dtype
    out = {
        "u": u.to(device, dtype),
        "delta": delta.to(device, dtype),
        "A": A.to(device, pd),
        "B": B.to(device, dtype),
        "C": C.to(device, dtype),
        "D": None if D is None else D.to(device, pd),
    }
    return out


def recurrence(u, delta, A, B, C, D=None, **bug):
    """The scan in float64 on the CPU, with one mistake switched on by `bug`."""
    u, delta, A, B, C = (t.detach().cpu().double() for t in (u, delta, A, B, C))
    if bug.get("softplus"):
        delta = torch.nn.functional.softplus(delta)
    if bug.get("swap_bc"):
        B, C = C, B
    b, d, L = u.shape
    x = torch.zeros(b, d, A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(L):
        dt = delta[:, :, t, None]
        a = torch.exp(A) * dt if bug.get("exp_a_times_delta") else torch.exp(dt * A)
        inp = (
            (1 if bug.get("no_delta_on_b") else dt)
            * B[:, None, :, t]
            * u[:, :, t, None]
        )
        prev = x
        if bug.get("no_carry"):
            x = inp
        else:
            x = a * x + inp
        read = prev if bug.get("y_before_update") else x
        ys.append((read * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, -1)
    if D is not None and not bug.get("no_d"):
        y = y + D.detach().cpu().double()[:, None] * u
    return y


BUGS = {
    "softplus was applied to delta: the contract uses delta as given": {
        "softplus": True
    },
    "delta is missing from the input term: x_l = exp(Δ·A)·x_{l-1} + Δ·B·u (Δ scales B·u too)": {
        "no_delta_on_b": True
    },
    "the decay is exp(A)·Δ: it is exp(Δ·A)": {"exp_a_times_delta": True},
    "y_l read the state before step l's update: update x first, then y_l = <x_l, C_l>": {
        "y_before_update": True
    },
    "B and C were swapped: B feeds the state, C reads it": {"swap_bc": True},
    "the skip term D·u is missing: add D[d] * u when D is given": {"no_d": True},
    "the state is not carried: x_l = exp(Δ·A)·x_{l-1} + …, from the previous step's x": {
        "no_carry": True
    },
}


def _run(impl, t, context):
    saved = {k: v.clone() for k, v in t.items() if v is not None}
    y = call(
        impl.selective_scan,
        t["u"],
        t["delta"],
        t["A"],
        t["B"],
        t["C"],
        *([] if t["D"] is None else [t["D"]]),
        what="selective_scan",
    )
    for k, v in saved.items():
        assert_unchanged(v, t[k], k)
    return y


def _compare(y, t, context, atol=None, rtol=None):
    args = [t[k] for k in ("u", "delta", "A", "B", "C", "D")]
    expected = recurrence(*args).to(device=t["u"].device, dtype=t["u"].dtype)
    d_atol, d_rtol = tolerance(t["u"].dtype)
    assert_close_diagnosed(
        y,
        expected,
        lambda: {
            why: (lambda bug=bug: recurrence(*args, **bug)) for why, bug in BUGS.items()
        },
        atol=d_atol if atol is None else atol,
        rtol=d_rtol if rtol is None else rtol,
        context=context,
    )


CASES = [
    # b, d, n, L, with D, dtype
    (2, 3, 4, 9, True, torch.float32),
    (1, 5, 3, 7, False, torch.float64),
    (3, 2, 5, 1, True, torch.float32),
    (2, 4, 2, 16, True, torch.float64),
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[
        f"b{c[0]}-d{c[1]}-n{c[2]}-L{c[3]}-D{int(c[4])}-{str(c[5])[6:]}" for c in CASES
    ],
)
def test_matches_the_recurrence(impl, device, case):
    b, d, n, L, with_d, dtype = case
    t = inputs(b, d, n, L, seed=L + 10 * d, device=device, dtype=dtype, with_d=with_d)
    context = f"b={b}, d={d}, n={n}, L={L}, D={'given' if with_d else 'None'}, {dtype}"
    _compare(_run(impl, t, context), t, context)


def test_non_contiguous_inputs(impl, device):
    t = inputs(2, 3, 4, 6, seed=5, device=device, dtype=torch.float64)
    # the same values, laid out transposed in memory
    for k in ("u", "delta", "B", "C"):
        t[k] = t[k].transpose(1, 2).contiguous().transpose(1, 2)
    t["A"] = t["A"].t().contiguous().t()
    _compare(_run(impl, t, ""), t, "non-contiguous inputs")


@pytest.mark.parametrize(
    "dtypes",
    [
        (torch.float16, torch.float16),
        (torch.bfloat16, torch.bfloat16),
        (torch.bfloat16, torch.float32),
    ],
    ids=["all-f16", "all-bf16", "bf16-A-f32"],
)
def test_half_precision_long_sequence(impl, device, dtypes):
    dtype, pdtype = dtypes
    t = inputs(
        2,
        3,
        4,
        256,
        seed=7,
        device=device,
        dtype=dtype,
        small_delta=True,
        param_dtype=pdtype,
    )
    context = (
        f"u, delta, B, C in {dtype}, A and D in {pdtype}, L=256, Δ·A ≈ -0.01: a state kept in "
        "half precision drifts here; compute in float32 and cast y to u's dtype"
    )
    y = _run(impl, t, context)
    _compare(y, t, context)


def test_gradients_reach_every_input(impl, device):
    t = inputs(2, 3, 4, 7, seed=8, device=device, dtype=torch.float64)
    for v in t.values():
        v.requires_grad_()
    y = _run(impl, t, "")
    assert isinstance(y, torch.Tensor) and y.requires_grad, (
        "the output does not require grad: selective_scan must be differentiable"
    )
    up = torch.randn(y.shape, generator=generator(9), dtype=torch.float64)
    (y * up.to(device)).sum().backward()
    ref = {k: v.detach().cpu().requires_grad_() for k, v in t.items()}
    # the recurrence with autograd (recurrence() detaches its inputs)
    u, delta, A, B, C, D = (ref[k] for k in ("u", "delta", "A", "B", "C", "D"))
    x = torch.zeros(2, 3, 4, dtype=torch.float64)
    ys = []
    for s in range(u.shape[-1]):
        x = (
            torch.exp(delta[:, :, s, None] * A) * x
            + (delta[:, :, s] * u[:, :, s])[..., None] * B[:, None, :, s]
        )
        ys.append((x * C[:, None, :, s]).sum(-1))
    ry = torch.stack(ys, -1) + D[:, None] * u
    (ry * up).sum().backward()
    for k in ("u", "delta", "A", "B", "C", "D"):
        got = t[k].grad
        assert got is not None, f"no gradient reached `{k}`: is it detached or unused?"
        assert_close(
            got, ref[k].grad.to(device), what=f"gradient of {k}", atol=1e-8, rtol=1e-6
        )
