"""Verifier for cross-entropy: against torch's F.cross_entropy run in float64 on the very same
inputs, for every reduction, ignore_index (out of range, and a valid class id), label
smoothing, both combined, large logits, half precision and gradients.

On a failed comparison the message names the classic mistake the result matches, if any: each
is computed in float64 from the formula with that one thing changed (ignored rows in the mean's
denominator, ignored rows not masked, smoothing over C - 1 classes or on ignored rows, ...), or
computed the naive way in the logits' own precision (log of softmax, exp without the max)."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
    likely_bug,
    tolerance,
)

REDUCTIONS = ["mean", "sum", "none"]


def _inputs(
    N, C, seed, device, dtype=torch.float32, scale=2.0, shift=0.0, ignore=None, frac=0.3
):
    """Seeded logits (N, C) and int64 targets (N,), a share `frac` of them set to `ignore`."""
    g = generator(seed)
    logits = torch.randn(N, C, generator=g, dtype=torch.float64) * scale + shift
    target = torch.randint(0, C, (N,), generator=g)
    if ignore is not None:
        drop = torch.rand(N, generator=g) < frac
        drop[0], drop[-1] = True, False  # at least one ignored row and one counted row
        target = torch.where(drop, torch.full_like(target, ignore), target)
    return logits.to(device=device, dtype=dtype), target.to(device)


def _reference(logits, target, ignore_index, eps, reduction):
    """F.cross_entropy in float64 on the CPU."""
    return F.cross_entropy(
        logits.detach().to("cpu", torch.float64),
        target.cpu(),
        ignore_index=ignore_index,
        label_smoothing=eps,
        reduction=reduction,
    )


DENOMINATOR = (
    "ignored rows were counted in the mean's denominator: divide the sum by the number of "
    "rows whose target is not ignore_index"
)
C_MINUS_1 = (
    "label smoothing was spread over the C - 1 other classes: the smoothed target puts eps/C "
    "on every class, the target included (1 - eps + eps/C on the target)"
)
SMOOTH_IGNORED = (
    "label smoothing was applied to ignored rows: a row whose target is ignore_index has "
    "loss 0, its smoothing term too"
)
NOT_MASKED = (
    "rows whose target is ignore_index were not masked out (they add a loss): their loss "
    "must be 0, and they must not count in the mean"
)
LOG_OF_SOFTMAX = (
    "log(softmax(x)): a probability that underflows to exactly 0 gives log(0) = -inf; use "
    "the log-sum-exp trick, log p = (x - max) - log(sum(exp(x - max)))"
)
NO_MAX = (
    "exp(logits) without subtracting the row max first: it overflows to inf for large logits "
    "(and every exp underflows to 0 for very negative ones); subtract each row's max before exp"
)


def _formula(
    lp,
    target,
    ignore_index,
    eps,
    reduction,
    *,
    classes="all",
    mask_rows=True,
    mask_smooth=True,
    denominator="kept",
    smooth_sum=False,
    safe_class=0,
):
    """The loss from log-probabilities lp (N, C), with one thing changed per keyword."""
    N, C = lp.shape
    keep = target != ignore_index
    valid = (target >= 0) & (target < C)
    safe = torch.where(valid, target, torch.full_like(target, safe_class))
    nll = -lp.gather(1, safe[:, None])[:, 0]
    if classes == "others":  # smoothing spread over the C - 1 other classes
        others = torch.ones_like(lp, dtype=torch.bool).scatter(1, safe[:, None], False)
        smooth = -(lp * others).sum(-1) / (C - 1)
    else:
        smooth = -lp.sum(-1) if smooth_sum else -lp.mean(-1)
    ones = torch.ones_like(keep)
    row = keep if mask_rows else ones
    loss = (1 - eps) * nll * row + eps * smooth * (row if mask_smooth else ones)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (keep.sum() if denominator == "kept" else N)


def _log_probs(logits, naive=None):
    """log p in float64 (naive=None), or the naive way in the logits' own precision on the CPU:
    'log_softmax' = log(softmax(x)), 'no_max' = x - log(sum(exp(x))) without the max."""
    x = logits.detach().cpu()
    if naive is None:
        return F.log_softmax(x.double(), dim=-1)
    if naive == "log_softmax":
        return torch.softmax(x, dim=-1).log().double()
    return (x - x.exp().sum(-1, keepdim=True).log()).double()


def _mistakes(target, ignore_index, eps, reduction, C):
    """[(why, keywords of _formula)] for the mistakes that change the formula."""
    n_ignored = int((target == ignore_index).sum())
    found = []
    if n_ignored and reduction == "mean":
        found.append((DENOMINATOR, {"denominator": "all"}))
    if n_ignored:
        for safe_class in (0, C - 1):  # gather at 0 after a clamp, or lp[i, -1]
            for denominator in ("all", "kept"):
                kw = {"mask_rows": False, "denominator": denominator}
                found.append((NOT_MASKED, {**kw, "safe_class": safe_class}))
    if eps:
        found.append((C_MINUS_1, {"classes": "others"}))
        why = (
            "the smoothing term sums -log p over the classes: take its mean, eps * (1/C) * "
            "sum over c of -log p[c]"
        )
        found.append((why, {"smooth_sum": True}))
        if n_ignored:
            found.append((SMOOTH_IGNORED, {"mask_smooth": False}))
            found.append((SMOOTH_IGNORED, {"mask_smooth": False, "denominator": "all"}))
    return found


def _variants(logits, target, ignore_index, eps, reduction):
    """[(a classic mistake in the user's terms, its result)], float64 on the CPU."""
    target = target.cpu()
    lp = _log_probs(logits)
    args = (target, ignore_index, eps, reduction)
    found = [
        (why, lambda kw=kw: _formula(lp, *args, **kw))
        for why, kw in _mistakes(*args, lp.shape[1])
    ]
    if eps:
        why = "label_smoothing was ignored: the loss matches plain cross-entropy"
        found.append((why, _formula(lp, target, ignore_index, 0.0, reduction)))
    if reduction == "mean":
        why = "reduction='mean' returned the sum: divide by the number of counted rows"
        found.append((why, _formula(lp, target, ignore_index, eps, "sum")))
    if reduction == "sum":
        why = "reduction='sum' returned the mean: add the losses up"
        found.append((why, _formula(lp, target, ignore_index, eps, "mean")))
    why = "the loss has the wrong sign: it is -log p of the target"
    found.append((why, -_formula(lp, *args)))
    found.append(
        (LOG_OF_SOFTMAX, lambda: _formula(_log_probs(logits, "log_softmax"), *args))
    )
    found.append((NO_MAX, lambda: _formula(_log_probs(logits, "no_max"), *args)))
    return found


def _grad_variants(logits, target, ignore_index, eps, reduction, upstream):
    """The gradients w.r.t. the logits under the mistakes that change the formula."""
    x = logits.detach().to("cpu", torch.float64).requires_grad_()
    lp = F.log_softmax(x, dim=-1)
    args = (target.cpu(), ignore_index, eps, reduction)
    up = upstream.detach().to("cpu", torch.float64)
    found = []
    for why, kw in _mistakes(*args, lp.shape[1]):
        loss = _formula(lp, *args, **kw)
        found.append(
            (why, torch.autograd.grad((loss * up).sum(), x, retain_graph=True)[0])
        )
    return found


def _call(impl, logits, target, **kwargs):
    """The attempt's cross_entropy, with a check that neither input was modified."""
    logits_before, target_before = logits.clone(), target.clone()
    out = call(impl.cross_entropy, logits, target, **kwargs, what="cross_entropy")
    assert_unchanged(logits_before, logits, "logits")
    try:
        assert_unchanged(target_before, target, "target")
    except AssertionError as exc:
        ignore = kwargs.get("ignore_index", -100)
        was = target_before == ignore
        note = ""
        if was.any() and not (target[was] == ignore).any():
            note = (
                "\nlikely bug: the ignored targets were overwritten in place (e.g. "
                "target[target == ignore_index] = 0 to make gather valid): build a new tensor "
                "with torch.where(keep, target, 0) instead"
            )
        raise AssertionError(f"{exc}{note}") from None
    return out


def _check(out, logits, target, ignore_index, eps, reduction, context, scale=1):
    expected = _reference(logits, target, ignore_index, eps, reduction)
    expected = expected.to(device=logits.device, dtype=logits.dtype)
    N = target.shape[0]
    if reduction == "none" and isinstance(out, torch.Tensor) and out.shape != (N,):
        kept = int((target != ignore_index).sum())
        note = ""
        if out.shape == (kept,) and kept != N:
            note = (
                "\nlikely bug: the ignored rows were dropped: reduction='none' keeps one loss "
                "per row, with 0 where the target is ignore_index"
            )
        raise AssertionError(
            f"reduction='none' [{context}]: shape expected ({N},), got {tuple(out.shape)}{note}"
        )
    # float64 logits: float32 accuracy is enough (an attempt may compute in float32 inside).
    atol, rtol = tolerance(
        torch.float32 if logits.dtype == torch.float64 else logits.dtype
    )
    try:
        assert_close_diagnosed(
            out,
            expected,
            lambda: _variants(logits, target, ignore_index, eps, reduction),
            what=f"cross_entropy(reduction={reduction!r})",
            atol=atol * scale,
            rtol=rtol * scale,
            context=context,
        )
    except AssertionError as exc:
        note = (
            ""
            if "likely bug" in str(exc)
            else _stability_note(out, expected, logits, eps)
        )
        if not note:
            raise
        raise AssertionError(f"{exc}{note}") from None


def _stability_note(out, expected, logits, eps):
    """Names the naive log-probabilities when the attempt's non-finite rows are rows where
    that naive computation, in the logits' own precision, is not finite either."""
    if not isinstance(out, torch.Tensor) or out.shape != expected.shape:
        return ""
    a = out.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    wrong = ~torch.isfinite(a) & torch.isfinite(e)
    if not wrong.any():
        return ""
    found = []
    for why, naive in ((LOG_OF_SOFTMAX, "log_softmax"), (NO_MAX, "no_max")):
        lp = _log_probs(logits, naive)
        # any class can matter: the target's, and every class's through the smoothing term
        bad_rows = ~torch.isfinite(lp).all(dim=-1)
        if (bad_rows[wrong] if a.dim() == 1 else bad_rows.any()).all():
            found.append(why)
    return likely_bug(found)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "shape", [(8, 5), (1, 7), (13, 40)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_plain_matches_torch(impl, device, reduction, shape):
    logits, target = _inputs(*shape, seed=shape[1], device=device)
    out = _call(impl, logits, target, reduction=reduction)
    _check(
        out, logits, target, -100, 0.0, reduction, f"logits {shape}, no ignored rows"
    )


def test_default_reduction_is_mean(impl, device):
    logits, target = _inputs(6, 9, seed=1, device=device, ignore=-100)
    out = _call(impl, logits, target)
    _check(out, logits, target, -100, 0.0, "mean", "defaults, some targets -100")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 0, -1], ids=["-100", "0", "-1"])
def test_ignore_index(impl, device, reduction, ignore_index):
    logits, target = _inputs(
        12, 6, seed=2, device=device, ignore=ignore_index, frac=0.4
    )
    kwargs = {"reduction": reduction}
    if ignore_index != -100:
        kwargs["ignore_index"] = ignore_index
    out = _call(impl, logits, target, **kwargs)
    _check(
        out,
        logits,
        target,
        ignore_index,
        0.0,
        reduction,
        f"ignore_index={ignore_index}, {int((target == ignore_index).sum())} of 12 rows ignored",
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_label_smoothing(impl, device, reduction, eps):
    logits, target = _inputs(10, 7, seed=3, device=device)
    out = _call(impl, logits, target, label_smoothing=eps, reduction=reduction)
    _check(out, logits, target, -100, eps, reduction, f"label_smoothing={eps}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 0], ids=["-100", "0"])
def test_label_smoothing_with_ignore_index(impl, device, reduction, ignore_index):
    logits, target = _inputs(
        12, 5, seed=4, device=device, ignore=ignore_index, frac=0.4
    )
    out = _call(
        impl,
        logits,
        target,
        ignore_index=ignore_index,
        label_smoothing=0.2,
        reduction=reduction,
    )
    _check(
        out,
        logits,
        target,
        ignore_index,
        0.2,
        reduction,
        f"label_smoothing=0.2, ignore_index={ignore_index}, "
        f"{int((target == ignore_index).sum())} of 12 rows ignored",
    )


def test_all_rows_ignored_sum_and_none(impl, device):
    logits, target = _inputs(4, 5, seed=5, device=device)
    target = torch.full_like(target, -100)
    for reduction in ("sum", "none"):
        out = _call(impl, logits, target, label_smoothing=0.1, reduction=reduction)
        _check(out, logits, target, -100, 0.1, reduction, "every target is -100")


@pytest.mark.parametrize(
    "scale,shift",
    [(40.0, 0.0), (100.0, 0.0), (3.0, 1000.0), (3.0, -1000.0)],
    ids=["x40", "x100", "+1000", "-1000"],
)
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_large_logits_are_stable(impl, device, scale, shift, eps):
    # x40 (within +-85): exp never overflows in float32, but probabilities underflow to 0, so
    # log(softmax) gives -inf; x100: both; +1000: exp overflows; -1000: every exp underflows.
    logits, target = _inputs(
        16, 11, seed=6, device=device, scale=scale, shift=shift, ignore=-100
    )
    if scale == 40.0:
        logits = logits.clamp(-85.0, 85.0)
    for reduction in ("none", "mean"):
        out = _call(impl, logits, target, label_smoothing=eps, reduction=reduction)
        _check(
            out,
            logits,
            target,
            -100,
            eps,
            reduction,
            f"logits * {scale:g} + {shift:g}, label_smoothing={eps}",
        )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtypes(impl, device, dtype):
    logits, target = _inputs(9, 20, seed=7, device=device, dtype=dtype, ignore=-100)
    for reduction in REDUCTIONS:
        out = _call(impl, logits, target, label_smoothing=0.1, reduction=reduction)
        # Several roundings in a row (max, exp, sum, log, mean) in half precision: 2x.
        _check(out, logits, target, -100, 0.1, reduction, f"{dtype} logits", scale=2)


@pytest.mark.parametrize(
    "config",
    [
        {"reduction": "mean"},
        {"reduction": "sum", "label_smoothing": 0.2},
        {"reduction": "mean", "label_smoothing": 0.2},
        {"reduction": "none", "label_smoothing": 0.3},
    ],
    ids=["mean", "sum-smooth", "mean-smooth", "none-smooth"],
)
@pytest.mark.parametrize("scale", [2.0, 100.0], ids=["x2", "x100"])
def test_gradients(impl, device, config, scale):
    logits, target = _inputs(
        10, 6, seed=8, device=device, scale=scale, ignore=-100, frac=0.4
    )
    logits.requires_grad_()
    out = _call(impl, logits, target, **config)
    reduction = config["reduction"]
    eps = config.get("label_smoothing", 0.0)
    upstream = torch.randn(out.shape, generator=generator(9), dtype=torch.float64)
    (out * upstream.to(device=device, dtype=out.dtype)).sum().backward()
    assert logits.grad is not None, (
        "no gradient reached the logits: is the loss detached?"
    )
    x64 = logits.detach().to("cpu", torch.float64).requires_grad_()
    ref = F.cross_entropy(x64, target.cpu(), label_smoothing=eps, reduction=reduction)
    (ref * upstream).sum().backward()
    assert_close_diagnosed(
        logits.grad,
        x64.grad.to(device=device, dtype=logits.dtype),
        lambda: _grad_variants(logits, target, -100, eps, reduction, upstream),
        what="gradient of the logits",
        atol=1e-5,
        rtol=1e-4,
        context=f"{config}, logits x{scale:g}",
    )
