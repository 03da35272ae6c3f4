"""Verifier for RNN: nn.RNN's parameter names and shapes (strict loads both ways), then outputs
and h_n against nn.RNN in float64 with the same weights, for 1 to 3 layers, both layouts, with
and without hx, a non-contiguous input, and gradients to the input, hx and every parameter.

Failures name the classic mistakes: hx ignored, the state not carried from step to step,
h @ W_hh without the transpose, one bias missing, every layer starting from hx[0], the output
taken from the first layer, ReLU instead of tanh, h_n batch-first."""

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


def _names(num_layers):
    return [
        f"{kind}_{part}_l{k}"
        for k in range(num_layers)
        for kind in ("weight", "bias")
        for part in ("ih", "hh")
    ]


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
    """The attempt's RNN, nn.RNN's seeded weights loaded into it with strict=True, and that
    nn.RNN in float64 on the CPU."""
    if defaults:  # the contract's defaults: num_layers=1, batch_first=False
        module = call(impl.RNN, input_size, hidden, what="RNN")
    else:
        module = call(
            impl.RNN,
            input_size,
            hidden,
            num_layers=num_layers,
            batch_first=batch_first,
            what="RNN",
        )
    ref = nn.RNN(
        input_size,
        hidden,
        num_layers=num_layers,
        batch_first=batch_first,
        dtype=torch.float64,
    )
    want = {n: tuple(p.shape) for n, p in ref.named_parameters()}
    got = {n: tuple(p.shape) for n, p in module.named_parameters()}
    args = f"RNN({input_size}, {hidden}, num_layers={num_layers})"
    assert set(got) == set(want), (
        f"{args}: parameter names must be exactly nn.RNN's {sorted(want)}; got {sorted(got)}"
    )
    for name, shape in want.items():
        assert got[name] == shape, (
            f"{args}: `{name}` must have shape {shape} (as nn.RNN), got {got[name]}"
        )
    extra = set(module.state_dict()) - set(want)
    assert not extra, (
        f"{args}: the state dict has entries nn.RNN's lacks, {sorted(extra)}: a strict load "
        "of nn.RNN's weights fails"
    )
    g = generator(seed)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    module = module.to(device=device, dtype=dtype)
    module.load_state_dict(ref.state_dict(), strict=True)
    # the reference runs on the values the attempt really holds (float32-rounded or not)
    ref.load_state_dict(
        {k: v.detach().cpu().double() for k, v in module.state_dict().items()},
        strict=True,
    )
    return module, ref


def _manual(ref, x, hx, batch_first, **bug):
    """The recurrence in float64 from ref's weights, with one mistake switched on by `bug`."""
    x = x.detach().cpu().double()
    x = x.transpose(0, 1) if batch_first else x
    L, B = x.shape[:2]
    nl, hid = ref.num_layers, ref.hidden_size
    h0 = (
        torch.zeros(nl, B, hid, dtype=torch.float64)
        if hx is None or bug.get("hx_ignored")
        else hx.detach().cpu().double()
    )
    act = torch.relu if bug.get("relu") else torch.tanh
    h_n, first = [], None
    for k in range(nl):
        p = {
            n: getattr(ref, f"{n}_l{k}").detach()
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
        w_hh = p["weight_hh"] if bug.get("no_transpose") else p["weight_hh"].T
        b = (0 if bug.get("no_bias_ih") else p["bias_ih"]) + (
            0 if bug.get("no_bias_hh") else p["bias_hh"]
        )
        h = h0[0] if bug.get("hx0_everywhere") else h0[k]
        start, outs = h, []
        for t in range(L):
            prev = start if bug.get("no_carry") else h
            h = act(x[t] @ p["weight_ih"].T + b + prev @ w_hh)
            outs.append(h)
        x = torch.stack(outs)
        first = x if first is None else first
        h_n.append(h)
    out = first if bug.get("first_layer_output") else x
    out = out.transpose(0, 1) if batch_first else out
    return out, torch.stack(h_n)


BUGS = {
    "hx was ignored: the first step must start from the given hx (zeros only when hx is None)": {
        "hx_ignored": True
    },
    "the hidden state is not carried from step to step: h_t must use h_{t-1}, not the initial state": {
        "no_carry": True
    },
    "h @ W_hh was used without the transpose: the recurrent term is h_{t-1} @ W_hh.T": {
        "no_transpose": True
    },
    "bias_hh was not added: h_t = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) has both biases": {
        "no_bias_hh": True
    },
    "bias_ih was not added: h_t = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) has both biases": {
        "no_bias_ih": True
    },
    "every layer started from hx[0]: layer k starts from hx[k]": {
        "hx0_everywhere": True
    },
    "the output holds the first layer's states: it is the last layer's h_t at every step": {
        "first_layer_output": True
    },
    "ReLU was used: this RNN's non-linearity is tanh": {"relu": True},
}


def _variants(ref, x, hx, batch_first, which):
    # each computed only when asked, so that one that cannot run at these sizes is skipped
    return lambda: {
        why: (lambda bug=bug: _manual(ref, x, hx, batch_first, **bug)[which])
        for why, bug in BUGS.items()
    }


def _run(module, x, hx):
    before = x.clone()
    hx_before = None if hx is None else hx.clone()
    out = call(module, x) if hx is None else call(module, x, hx)
    assert isinstance(out, tuple) and len(out) == 2, (
        "forward must return a tuple (output, h_n)"
    )
    assert_unchanged(before, x, "input")
    if hx is not None:
        assert_unchanged(hx_before, hx, "hx")
    return out


def _check(out, h_n, ref, x, hx, batch_first, context, num_layers):
    expected_out, expected_h = (
        ref(x.detach().cpu().double())
        if hx is None
        else ref(x.detach().cpu().double(), hx.detach().cpu().double())
    )
    B = x.shape[0] if batch_first else x.shape[1]
    assert isinstance(h_n, torch.Tensor) and tuple(h_n.shape) == (num_layers, B, H), (
        f"h_n [{context}]: shape expected ({num_layers}, {B}, {H}) = (num_layers, B, "
        f"hidden_size), got {tuple(getattr(h_n, 'shape', ()))}"
        + (
            " (h_n is never batch-first, even when batch_first=True)"
            if batch_first
            and getattr(h_n, "shape", None) is not None
            and tuple(h_n.shape) == (B, num_layers, H)
            else ""
        )
    )
    for name, got, want, i in (
        ("output", out, expected_out, 0),
        ("h_n", h_n, expected_h, 1),
    ):
        atol, rtol = tolerance(x.dtype)
        assert_close_diagnosed(
            got,
            want.to(device=x.device, dtype=x.dtype),
            _variants(ref, x, hx, batch_first, i),
            what=name,
            atol=atol,
            rtol=rtol,
            context=context,
        )


def test_parameters_are_nn_rnn_s(impl, device):
    module, ref = make(impl, 2, False, device, torch.float32, 0)
    # and the other way: the attempt's state dict loads into nn.RNN with strict=True
    ref.load_state_dict(
        {k: v.double().cpu() for k, v in module.state_dict().items()}, strict=True
    )
    params = dict(module.named_parameters())
    assert all(isinstance(p, nn.Parameter) for p in params.values())


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
def test_matches_nn_rnn(impl, device, case):
    num_layers, batch_first, with_hx, dtype, L, B = case
    module, ref = make(impl, num_layers, batch_first, device, dtype, 1 + num_layers)
    shape = (B, L, IN) if batch_first else (L, B, IN)
    x = randn(shape, 10 + L, device, dtype)
    hx = randn((num_layers, B, H), 20 + B, device, dtype) if with_hx else None
    out, h_n = _run(module, x, hx)
    context = (
        f"num_layers={num_layers}, batch_first={batch_first}, "
        f"hx={'given' if with_hx else 'None'}, {dtype}, L={L}, B={B}"
    )
    _check(out, h_n, ref, x, hx, batch_first, context, num_layers)


def test_square_sizes_and_non_contiguous_input(impl, device):
    # input_size == hidden_size: a missing transpose or a layer fed the wrong input still runs
    module, ref = make(impl, 2, False, device, torch.float64, 7, input_size=H)
    # (L=5, B=3), strided
    x = randn((3, 5, H), 30, device, torch.float64).transpose(0, 1)
    hx = randn((2, 3, H), 31, device, torch.float64)
    out, h_n = _run(module, x, hx)
    _check(
        out,
        h_n,
        ref,
        x,
        hx,
        False,
        "input_size == hidden_size, non-contiguous input",
        2,
    )


def test_gradients_match_nn_rnn(impl, device):
    module, ref = make(impl, 2, True, device, torch.float64, 8)
    x = randn((2, 4, IN), 40, device, torch.float64).requires_grad_()
    hx = randn((2, 2, H), 41, device, torch.float64).requires_grad_()
    up_out = randn((2, 4, H), 42, device, torch.float64)
    up_h = randn((2, 2, H), 43, device, torch.float64)
    out, h_n = _run(module, x, hx)
    assert out.requires_grad, "the output does not require grad: is it detached?"
    ((out * up_out).sum() + (h_n * up_h).sum()).backward()
    rx = x.detach().cpu().requires_grad_()
    rh = hx.detach().cpu().requires_grad_()
    ro, rn = ref(rx, rh)
    ((ro * up_out.cpu()).sum() + (rn * up_h.cpu()).sum()).backward()
    for name, got, want in [("input", x.grad, rx.grad), ("hx", hx.grad, rh.grad)] + [
        (n, p.grad, dict(ref.named_parameters())[n].grad)
        for n, p in module.named_parameters()
    ]:
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
    out, h_n = _run(module, x, None)
    _check(
        out,
        h_n,
        ref,
        x,
        None,
        False,
        "RNN(3, 5): default num_layers and batch_first",
        1,
    )
