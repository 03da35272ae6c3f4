"""Verifier for DPO: the sigmoid loss of TRL's DPOTrainer (with label smoothing, conservative
DPO) written in float64, and sequence log-probabilities against float64 F.cross_entropy with
the causal shift and ignore_index. Rewards must be detached; gradients must reach the policy
log-probabilities and the logits.

On a failed comparison the message names the classic mistake the values match (reference
terms swapped, policy and reference swapped, beta missing or outside the sigmoid, the
smoothing ignored or swapped, log(sigmoid) underflow; in sequence_logps no shift, a shift the
wrong way, a mean instead of a sum, ignored tokens counted)."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_tensor,
    assert_unchanged,
    call,
    generator,
    tolerance,
)

NAMES = [
    "policy_chosen_logps",
    "policy_rejected_logps",
    "reference_chosen_logps",
    "reference_rejected_logps",
]


# -- dpo_loss ------------------------------------------------------------------------------------
def _logps(B, seed, device, dtype=torch.float32, spread=20.0):
    """Four (B,) tensors of summed log-probabilities (negative, tens of nats apart)."""
    g = generator(seed)
    base = -torch.rand(B, generator=g, dtype=torch.float64) * 80 - 20
    out = [
        base + torch.randn(B, generator=g, dtype=torch.float64) * spread
        for _ in range(4)
    ]
    return [t.to(device=device, dtype=dtype) for t in out]


def _f64(t):
    """t in float64 on the CPU; a float64 CPU tensor as it is (its graph kept)."""
    if t.device.type == "cpu" and t.dtype == torch.float64:
        return t
    return t.detach().to("cpu", torch.float64)


def _ref_losses(
    pc, pr, rc, rr, beta, ls, *, swap_ref=False, swap_models=False, smooth_swap=False
):
    pc, pr, rc, rr = (_f64(t) for t in (pc, pr, rc, rr))
    pi, ref = pc - pr, (rr - rc) if swap_ref else (rc - rr)
    z = beta * ((ref - pi) if swap_models else (pi - ref))
    a, b = (ls, 1 - ls) if smooth_swap else (1 - ls, ls)
    return -F.logsigmoid(z) * a - F.logsigmoid(-z) * b


def _loss_variants(args, beta, ls):
    pc, pr, rc, rr = (t.detach().to("cpu", torch.float64) for t in args)
    z = beta * ((pc - pr) - (rc - rr))
    right = _ref_losses(*args, beta, ls)
    found = [
        (
            (
                "the reference terms are swapped: the reference log-ratio is reference_chosen - "
                "reference_rejected, subtracted from the policy's (pi_c - pi_r) - (ref_c - ref_r)"
            ),
            _ref_losses(*args, beta, ls, swap_ref=True),
        ),
        (
            (
                "policy and reference are swapped: z = beta * ((pi_c - pi_r) - (ref_c - ref_r)), "
                "the policy's log-ratio minus the reference's"
            ),
            _ref_losses(*args, beta, ls, swap_models=True),
        ),
        (
            "beta is missing inside the sigmoid: z = beta * (log-ratio difference)",
            _ref_losses(*args, 1.0, ls),
        ),
        (
            "beta multiplies the loss instead of the logit inside the sigmoid",
            beta * _ref_losses(*args, 1.0, ls),
        ),
        ("the loss has the wrong sign: it is -log sigmoid(z)", -right),
        (
            "the loss is -sigmoid(z) (or 1 - sigmoid(z)), not -log sigmoid(z)",
            -torch.sigmoid(z) * (1 - ls) - torch.sigmoid(-z) * ls,
        ),
        (
            "the loss is -sigmoid(z) (or 1 - sigmoid(z)), not -log sigmoid(z)",
            1 - torch.sigmoid(z) * (1 - ls) - torch.sigmoid(-z) * ls,
        ),
        (
            (
                "log(sigmoid(z)) underflows: sigmoid(z) is 0 in float32 for z below about -100 and "
                "log(0) = -inf; use F.logsigmoid (stable for any z)"
            ),
            lambda: (
                -torch.log(torch.sigmoid(z.float())) * (1 - ls)
                - torch.log(torch.sigmoid(-z.float())) * ls
            ).double(),
        ),
    ]
    if ls:
        found += [
            (
                "label_smoothing is ignored: losses = -(1 - ls) * logsigmoid(z) - ls * logsigmoid(-z)",
                _ref_losses(*args, beta, 0.0),
            ),
            (
                (
                    "the label-smoothing weights are swapped: (1 - ls) goes with logsigmoid(z), ls "
                    "with logsigmoid(-z)"
                ),
                _ref_losses(*args, beta, ls, smooth_swap=True),
            ),
        ]
    return found


def _reward_variants(mine, ref, other_mine, other_ref, beta):
    m, r = mine.detach().double().cpu(), ref.detach().double().cpu()
    om, orf = other_mine.detach().double().cpu(), other_ref.detach().double().cpu()
    return [
        (
            "the rewards are not scaled by beta: reward = beta * (policy - reference)",
            m - r,
        ),
        (
            "the rewards have the wrong sign: reward = beta * (policy - reference)",
            beta * (r - m),
        ),
        (
            (
                "chosen and rejected rewards are swapped: return (losses, chosen_rewards, "
                "rejected_rewards)"
            ),
            beta * (om - orf),
        ),
    ]


def _call_dpo(impl, args, **kw):
    before = [a.clone() for a in args]
    result = call(impl.dpo_loss, *args, **kw)
    for b, a, name in zip(before, args, NAMES):
        assert_unchanged(b, a, name)
    ok = isinstance(result, (tuple, list)) and len(result) == 3
    assert ok, (
        "dpo_loss must return (losses, chosen_rewards, rejected_rewards), got "
        f"{type(result).__name__}"
    )
    return result


def _check_dpo(impl, args, beta, ls, context, pass_defaults=False, **tol):
    kw = {} if pass_defaults else {"beta": beta, "label_smoothing": ls}
    losses, chosen, rejected = _call_dpo(impl, args, **kw)
    B = args[0].shape[0]
    dtype, device = args[0].dtype, args[0].device
    assert_tensor(losses, "losses")
    if losses.dim() == 0 and B > 1:
        raise AssertionError(
            f"losses [{context}]: a 0-dim tensor; return one loss per pair, shape ({B},), not "
            "their mean (the caller reduces them)"
        )
    expected = _ref_losses(*args, beta, ls).to(device=device, dtype=dtype)
    assert_close_diagnosed(
        losses,
        expected,
        lambda: _loss_variants(args, beta, ls),
        what="losses",
        context=context,
        **tol,
    )
    pc, pr, rc, rr = args
    for what, got, mine, ref, om, orf in (
        ("chosen_rewards", chosen, pc, rc, pr, rr),
        ("rejected_rewards", rejected, pr, rr, pc, rc),
    ):
        want = (beta * (mine.double() - ref.double())).to(dtype)
        assert_close_diagnosed(
            got,
            want,
            lambda m=mine, r=ref, o=om, q=orf: _reward_variants(m, r, o, q, beta),
            what=what,
            context=context,
            **tol,
        )


@pytest.mark.parametrize("B", [1, 7])
@pytest.mark.parametrize("beta", [0.1, 0.5])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_dpo_matches_formula(impl, device, B, beta, ls):
    args = _logps(B, 10 * B + int(100 * beta), device)
    _check_dpo(impl, args, beta, ls, f"B={B}, beta={beta}, label_smoothing={ls}")


def test_dpo_defaults(impl, device):
    args = _logps(6, 3, device)
    _check_dpo(
        impl, args, 0.1, 0.0, "defaults beta=0.1, label_smoothing=0", pass_defaults=True
    )


def test_dpo_float64(impl, device):
    args = _logps(5, 4, device, torch.float64)
    _check_dpo(impl, args, 0.3, 0.1, "float64, beta=0.3, label_smoothing=0.1")


@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_dpo_large_margins_stay_finite(impl, device, ls):
    # |z| up to several hundred: sigmoid(z) underflows to 0 in float32 on one side.
    args = _logps(8, 5, device, spread=1500.0)
    # log-probabilities in the thousands: float32 rounds them to ~1e-4, so a correct z computed
    # in another order differs by that much; the mistake this test is for gives inf.
    _check_dpo(
        impl,
        args,
        0.5,
        ls,
        f"|beta * log-ratio difference| in the hundreds, ls={ls}",
        atol=1e-3,
        rtol=1e-4,
    )


def test_dpo_rewards_detached_and_gradients(impl, device):
    args = [a.requires_grad_() for a in _logps(6, 6, device)]
    losses, chosen, rejected = _call_dpo(impl, args, beta=0.2, label_smoothing=0.1)
    for what, r in (("chosen_rewards", chosen), ("rejected_rewards", rejected)):
        assert_tensor(r, what)
        assert not r.requires_grad, (
            f"{what} requires a gradient: the rewards must be detached (they are logged, "
            "never trained on); use .detach()"
        )
    assert_tensor(losses, "losses")
    assert losses.requires_grad, "losses do not require a gradient: are they detached?"
    upstream = torch.rand(6, generator=generator(7)).to(device)
    (losses * upstream).sum().backward()
    args64 = [a.detach().to("cpu", torch.float64).requires_grad_() for a in args]
    (_ref_losses(*args64, 0.2, 0.1) * upstream.double().cpu()).sum().backward()
    for a, a64, name in zip(args[:2], args64[:2], NAMES[:2]):
        assert a.grad is not None, f"no gradient reached {name}"
        assert_close(
            a.grad,
            a64.grad.float().to(device),
            what=f"gradient of the losses w.r.t. {name}",
        )


# -- sequence_logps ------------------------------------------------------------------------------
def _seq_inputs(B, T, V, seed, device, dtype=torch.float32, ignore_index=-100):
    g = generator(seed)
    logits = (torch.randn(B, T, V, generator=g, dtype=torch.float64) * 2).to(
        device=device, dtype=dtype
    )
    labels = torch.randint(0, V, (B, T), generator=g)
    for b in range(B):  # a prompt of b + 1 tokens and b padding tokens, both ignored
        labels[b, : min(b + 1, T)] = ignore_index
        if b:
            labels[b, max(T - b, 0) :] = ignore_index
    return logits, labels.to(device)


def _ref_seq(
    logits, labels, ignore_index=-100, *, shift=1, mean=False, count_ignored=False
):
    lg = logits.detach().to("cpu", torch.float64)
    lb = labels.to("cpu")
    if shift == 1:
        lg, lb = lg[:, :-1], lb[:, 1:]
    elif shift == -1:
        lg, lb = lg[:, 1:], lb[:, :-1]
    mask = lb != ignore_index
    safe = lb.masked_fill(~mask, 0)
    per = lg.log_softmax(-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    if not count_ignored:
        per = per * mask
    total = per.sum(-1)
    if mean:
        total = total / (
            mask.sum(-1).clamp(min=1) if not count_ignored else mask.shape[-1]
        )
    return total


def _seq_reference(logits, labels, ignore_index):
    """float64, via F.cross_entropy with ignore_index (an independent formula)."""
    lg = logits.detach().to("cpu", torch.float64)[:, :-1]
    lb = labels.to("cpu")[:, 1:]
    nll = F.cross_entropy(
        lg.transpose(1, 2), lb, ignore_index=ignore_index, reduction="none"
    )
    return -nll.sum(-1)


def _seq_variants(logits, labels, ignore_index):
    return [
        (
            (
                "the shift by one is missing: the logits at position t predict the label at t + 1 "
                "(use logits[:, :-1] with labels[:, 1:])"
            ),
            _ref_seq(logits, labels, ignore_index, shift=0),
        ),
        (
            "the shift goes the wrong way: use logits[:, :-1] with labels[:, 1:]",
            _ref_seq(logits, labels, ignore_index, shift=-1),
        ),
        (
            "a mean over the tokens instead of a sum: DPO uses the summed log-probability",
            _ref_seq(logits, labels, ignore_index, mean=True),
        ),
        (
            "a mean over the tokens instead of a sum: DPO uses the summed log-probability",
            _ref_seq(logits, labels, ignore_index, mean=True, count_ignored=True),
        ),
        (
            (
                "ignored positions were counted: tokens whose label is ignore_index must add 0 "
                "(mask them after the gather)"
            ),
            _ref_seq(logits, labels, ignore_index, count_ignored=True),
        ),
    ]


def _check_seq(impl, logits, labels, ignore_index, context, pass_default=False, **tol):
    lb, lg = labels.clone(), logits.clone()
    kw = {} if pass_default else {"ignore_index": ignore_index}
    try:
        out = call(impl.sequence_logps, logits, labels, **kw)
    except (RuntimeError, IndexError) as exc:
        if "index" in str(exc).lower() and "out of" in str(exc).lower():
            raise AssertionError(
                f"sequence_logps [{context}]: {exc}\nlikely bug: the labels were used to "
                f"index (gather) with ignore_index ({ignore_index}) still in them: replace the "
                "ignored labels by a valid id (e.g. 0) before the gather, then mask them out"
            ) from None
        raise
    assert_unchanged(lg, logits, "logits")
    assert_unchanged(lb, labels, "labels")
    expected = _seq_reference(logits, labels, ignore_index).to(
        device=logits.device, dtype=logits.dtype
    )
    assert_close_diagnosed(
        out,
        expected,
        lambda: _seq_variants(logits, labels, ignore_index),
        what="sequence_logps",
        context=context,
        **tol,
    )


@pytest.mark.parametrize(
    "shape", [(1, 6, 11), (4, 9, 17), (3, 2, 5)], ids=["B1-T6", "B4-T9", "B3-T2"]
)
def test_sequence_logps_matches_cross_entropy(impl, device, shape):
    logits, labels = _seq_inputs(*shape, sum(shape), device)
    _check_seq(
        impl, logits, labels, -100, f"logits of shape {shape}", pass_default=True
    )


def test_sequence_logps_custom_ignore_index(impl, device):
    logits, labels = _seq_inputs(3, 7, 13, 21, device, ignore_index=-1)
    _check_seq(impl, logits, labels, -1, "ignore_index=-1")


def test_sequence_logps_no_ignored_tokens(impl, device):
    g = generator(22)
    logits = torch.randn(2, 8, 10, generator=g).to(device)
    labels = torch.randint(0, 10, (2, 8), generator=g).to(device)
    _check_seq(impl, logits, labels, -100, "no label is ignored")


def test_sequence_logps_float64(impl, device):
    logits, labels = _seq_inputs(3, 6, 9, 23, device, torch.float64)
    _check_seq(impl, logits, labels, -100, "float64 logits")


def test_sequence_logps_gradient(impl, device):
    logits, labels = _seq_inputs(3, 7, 11, 24, device)
    logits.requires_grad_()
    out = call(impl.sequence_logps, logits, labels)
    assert_tensor(out, "sequence_logps")
    assert out.requires_grad, (
        "sequence_logps does not require a gradient: is it detached?"
    )
    upstream = torch.rand(3, generator=generator(25)).to(device)
    (out * upstream).sum().backward()
    lg64 = logits.detach().to("cpu", torch.float64).requires_grad_()
    nll = F.cross_entropy(
        lg64[:, :-1].transpose(1, 2), labels.cpu()[:, 1:], reduction="none"
    )
    (-nll.sum(-1) * upstream.double().cpu()).sum().backward()
    assert logits.grad is not None, "no gradient reached logits"
    assert_close(
        logits.grad,
        lg64.grad.float().to(device),
        what="gradient of sequence_logps w.r.t. logits",
    )
    atol, _ = tolerance(torch.float32)
    assert logits.grad[:, -1].abs().max() <= atol, (
        "the logits at the last position got a gradient: they predict no label (shift by one)"
    )
