"""Verifier for LSTM: nn.LSTM's parameter names and shapes (strict loads both ways), then
output, h_n and c_n against nn.LSTM in float64 with the same weights, for 1 to 3 layers, both
layouts, with and without hx, a non-contiguous input, and gradients to the input, h_0, c_0 and
every parameter.

Failures name the classic mistakes: another gate order (i, f, o, g or f, i, g, o), h = o * c
without the tanh, a sigmoid on g, c_0 or hx ignored, the state not carried, one bias missing, every layer starting from layer 0's state, the output taken
from the first layer, h_n and c_n swapped, h_n batch-first."""

import pytest
import torch
from torch import nn

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)

IN, H = 3, 5


def make(
    impl,
    num_layers,
    batch_first,
    device,
    dtype,
    seed,
    input_size=IN,
    hidden=H,
    defaults=False,
):
    """The attempt's LSTM, nn.LSTM's seeded weights loaded into it with strict=True, and that
    nn.LSTM in float64 on the CPU holding the values the attempt really holds."""
    if defaults:  # the contract's defaults: num_layers=1, batch_first=False
        module = call(impl.LSTM, input_size, hidden, what="LSTM")
    else:
        module = call(
            impl.LSTM,
            input_size,
            hidden,
            num_layers=num_layers,
            batch_first=batch_first,
            what="LSTM",
        )
    ref = nn.LSTM(
        input_size,
        hidden,
        num_layers=num_layers,
        batch_first=batch_first,
        dtype=torch.float64,
    )
    want = {n: tuple(p.shape) for n, p in ref.named_parameters()}
    got = {n: tuple(p.shape) for n, p in module.named_parameters()}
    args = f"LSTM({input_size}, {hidden}, num_layers={num_layers})"
    assert set(got) == set(want), (
        f"{args}: parameter names must be exactly nn.LSTM's {sorted(want)}; got {sorted(got)}"
    )
    for name, shape in want.items():
        assert got[name] == shape, (
            f"{args}: `{name}` must have shape {shape} (as nn.LSTM: the 4 gates stacked), "
            f"got {got[name]}"
        )
    extra = set(module.state_dict()) - set(want)
    assert not extra, (
        f"{args}: the state dict has entries nn.LSTM's lacks, {sorted(extra)}: a strict "
        "load of nn.LSTM's weights fails"
    )
    g = generator(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.6)
    module = module.to(device=device, dtype=dtype)
    module.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(
        {k: v.detach().cpu().double() for k, v in module.state_dict().items()},
        strict=True,
    )
    return module, ref


ORDERS = {
    "ifgo": (0, 1, 2, 3),
    "ifog": (0, 1, 3, 2),
    "figo": (1, 0, 2, 3),
    "iofg": (0, 3, 1, 2),
}


def _manual(ref, x, hx, batch_first, **bug):
    """The recurrence in float64 from ref's weights, with one mistake switched on by `bug`;
    returns (output, h_n, c_n)."""
    x = x.detach().cpu().double()
    x = x.transpose(0, 1) if batch_first else x
    L, B = x.shape[:2]
    nl, hid = ref.num_layers, ref.hidden_size
    zeros = torch.zeros(nl, B, hid, dtype=torch.float64)
    if hx is None or bug.get("hx_ignored"):
        h0, c0 = zeros, zeros
    else:
        h0, c0 = (t.detach().cpu().double() for t in hx)
        if bug.get("c0_ignored"):
            c0 = zeros
    order = ORDERS[bug.get("order", "ifgo")]
    g_act = torch.sigmoid if bug.get("g_sigmoid") else torch.tanh
    h_n, c_n, first = [], [], None
    for k in range(nl):
        p = {
            n: getattr(ref, f"{n}_l{k}").detach()
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        w_hh = p["weight_hh"].T
        b = p["bias_ih"] + (0 if bug.get("no_bias_hh") else p["bias_hh"])
        j = 0 if bug.get("hx0_everywhere") else k
        h, c, outs = h0[j], c0[j], []
        for t in range(L):
            z = (x[t] @ p["weight_ih"].T + b + h @ w_hh).chunk(4, dim=-1)
            i, f, g, o = (z[order[n]] for n in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * g_act(g)
            h = torch.sigmoid(o) * (c if bug.get("no_tanh_c") else torch.tanh(c))
            outs.append(h)
        x = torch.stack(outs)
        first = x if first is None else first
        h_n.append(h)
        c_n.append(c)
    out = first if bug.get("first_layer_output") else x
    out = out.transpose(0, 1) if batch_first else out
    h_n, c_n = torch.stack(h_n), torch.stack(c_n)
    if bug.get("swap_hc"):
        h_n, c_n = c_n, h_n
    return out, h_n, c_n


BUGS = {
    "the gates were read in the order (i, f, o, g): nn.LSTM stacks the rows as (i, f, g, o)": {
        "order": "ifog"
    },
    "the gates were read in the order (f, i, g, o): nn.LSTM stacks the rows as (i, f, g, o)": {
        "order": "figo"
    },
    "the gates were read in the order (i, o, f, g): nn.LSTM stacks the rows as (i, f, g, o)": {
        "order": "iofg"
    },
    "h = o * c without the tanh: h_t = σ(o) ⊙ tanh(c_t)": {"no_tanh_c": True},
    "the candidate g went through a sigmoid: g uses tanh (i, f and o use sigmoid)": {
        "g_sigmoid": True
    },
    "hx was ignored: the first step must start from the given (h_0, c_0)": {
        "hx_ignored": True
    },
    "c_0 was ignored: the cell state must start from hx[1], not zeros": {
        "c0_ignored": True
    },
    "bias_hh was not added: the gates are x W_ih^T + b_ih + h W_hh^T + b_hh, both biases": {
        "no_bias_hh": True
    },
    "every layer started from layer 0's state: layer k starts from h_0[k], c_0[k]": {
        "hx0_everywhere": True
    },
    "the output holds the first layer's states: it is the last layer's h_t at every step": {
        "first_layer_output": True
    },
    "h_n and c_n were swapped: return (output, (h_n, c_n))": {"swap_hc": True},
}


def _variants(ref, x, hx, batch_first, which):
    # each computed only when asked, so that one that cannot run at these sizes is skipped
    return lambda: {
        why: (lambda bug=bug: _manual(ref, x, hx, batch_first, **bug)[which])
        for why, bug in BUGS.items()
    }


def _run(module, x, hx):
    before = x.clone()
    saved = None if hx is None else tuple(t.clone() for t in hx)
    out = call(module, x) if hx is None else call(module, x, hx)
    assert (
        isinstance(out, tuple)
        and len(out) == 2
        and isinstance(out[1], tuple)
        and len(out[1]) == 2
    ), "forward must return (output, (h_n, c_n))"
    assert_unchanged(before, x, "input")
    if hx is not None:
        assert_unchanged(saved[0], hx[0], "h_0")
        assert_unchanged(saved[1], hx[1], "c_0")
    return out[0], out[1][0], out[1][1]


def _check(got, ref, x, hx, batch_first, context, num_layers):
    rx = x.detach().cpu().double()
    if hx is None:
        eo, (eh, ec) = ref(rx)
    else:
        eo, (eh, ec) = ref(rx, tuple(t.detach().cpu().double() for t in hx))
    B = x.shape[0] if batch_first else x.shape[1]
    for name, t in (("h_n", got[1]), ("c_n", got[2])):
        shape = tuple(getattr(t, "shape", ()))
        assert isinstance(t, torch.Tensor) and shape == (num_layers, B, H), (
            f"{name} [{context}]: shape expected ({num_layers}, {B}, {H}) = (num_layers, B, "
            f"hidden_size), got {shape}"
            + (
                f" ({name} is never batch-first, even when batch_first=True)"
                if batch_first and shape == (B, num_layers, H)
                else ""
            )
        )
    atol, rtol = tolerance(x.dtype)
    for i, (name, want) in enumerate((("output", eo), ("h_n", eh), ("c_n", ec))):
        assert_close_diagnosed(
            got[i],
            want.to(device=x.device, dtype=x.dtype),
            _variants(ref, x, hx, batch_first, i),
            what=name,
            atol=atol,
            rtol=rtol,
            context=context,
        )


def test_parameters_are_nn_lstm_s(impl, device):
    module, ref = make(impl, 2, False, device, torch.float32, 0)
    ref.load_state_dict(
        {k: v.double().cpu() for k, v in module.state_dict().items()}, strict=True
    )


CASES = [
    # num_layers, batch_first, with hx, dtype, L, B
    (1, False, False, torch.float32, 4, 3),
    (2, False, True, torch.float64, 5, 2),
    (3, True, True, torch.float32, 3, 4),
    (2, True, False, torch.float64, 6, 1),
    (2, True, True, torch.float32, 1, 3),
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[
        f"layers{c[0]}-bf{int(c[1])}-hx{int(c[2])}-{str(c[3])[6:]}-L{c[4]}"
        for c in CASES
    ],
)
def test_matches_nn_lstm(impl, device, case):
    num_layers, batch_first, with_hx, dtype, L, B = case
    module, ref = make(impl, num_layers, batch_first, device, dtype, 1 + num_layers)
    shape = (B, L, IN) if batch_first else (L, B, IN)
    x = randn(shape, 10 + L, device, dtype)
    hx = None
    if with_hx:
        hx = (
            randn((num_layers, B, H), 20 + B, device, dtype),
            randn((num_layers, B, H), 30 + B, device, dtype, scale=2.0),
        )
    got = _run(module, x, hx)
    context = (
        f"num_layers={num_layers}, batch_first={batch_first}, "
        f"hx={'given' if with_hx else 'None'}, {dtype}, L={L}, B={B}"
    )
    _check(got, ref, x, hx, batch_first, context, num_layers)


def test_square_sizes_and_non_contiguous_input(impl, device):
    # input_size == hidden_size: a missing transpose still runs
    module, ref = make(impl, 2, False, device, torch.float64, 7, input_size=H)
    # (L=5, B=3), strided
    x = randn((3, 5, H), 40, device, torch.float64).transpose(0, 1)
    hx = (
        randn((2, 3, H), 41, device, torch.float64),
        randn((2, 3, H), 42, device, torch.float64),
    )
    got = _run(module, x, hx)
    _check(got, ref, x, hx, False, "input_size == hidden_size, non-contiguous input", 2)


def test_gradients_match_nn_lstm(impl, device):
    module, ref = make(impl, 2, True, device, torch.float64, 8)
    x = randn((2, 4, IN), 50, device, torch.float64).requires_grad_()
    h0 = randn((2, 2, H), 51, device, torch.float64).requires_grad_()
    c0 = randn((2, 2, H), 52, device, torch.float64).requires_grad_()
    ups = [
        randn(s, 53 + i, device, torch.float64)
        for i, s in enumerate([(2, 4, H), (2, 2, H), (2, 2, H)])
    ]
    out, h_n, c_n = _run(module, x, (h0, c0))
    assert out.requires_grad, "the output does not require grad: is it detached?"
    sum((t * u).sum() for t, u in zip((out, h_n, c_n), ups)).backward()
    rx, rh, rc = (t.detach().cpu().requires_grad_() for t in (x, h0, c0))
    ro, (rhn, rcn) = ref(rx, (rh, rc))
    sum((t * u.cpu()).sum() for t, u in zip((ro, rhn, rcn), ups)).backward()
    named = dict(ref.named_parameters())
    pairs = [
        ("input", x.grad, rx.grad),
        ("h_0", h0.grad, rh.grad),
        ("c_0", c0.grad, rc.grad),
    ]
    pairs += [(n, p.grad, named[n].grad) for n, p in module.named_parameters()]
    for name, got, want in pairs:
        assert got is not None, (
            f"no gradient reached `{name}`: is it detached or unused?"
        )
        assert_close(
            got,
            want.to(device),
            what=f"gradient of {name}",
            context="2 layers, batch_first",
        )


def test_defaults_are_one_layer_time_major(impl, device):
    module, ref = make(impl, 1, False, device, torch.float64, 12, defaults=True)
    x = randn((4, 2, IN), 60, device, torch.float64)  # (L, B, input_size): time-major
    got = _run(module, x, None)
    _check(
        got, ref, x, None, False, "LSTM(3, 5): default num_layers and batch_first", 1
    )
