"""Verifier for the cosine schedule with warm-up: every step from 0 to total_steps against
transformers' get_cosine_with_min_lr_schedule_with_warmup (min_lr given), read from its
LambdaLR multiplier on a dummy optimiser whose lr is base_lr.

A failed comparison names the classic mistake the whole schedule matches: warm-up from min_lr
or one step ahead, progress counted from step 0 or over total_steps - warmup - 1, min_lr added
on top of the cosine, a full cosine period, ..."""

import math

import pytest
import torch
from transformers import get_cosine_with_min_lr_schedule_with_warmup

from cards.checks import assert_close_diagnosed, call

CASES = [
    # (warmup_steps, total_steps, base_lr, min_lr)
    (10, 100, 3e-4, 0.0),
    (10, 100, 3e-4, 3e-5),
    (0, 50, 1.0, 0.1),
    (7, 33, 2e-3, 5e-4),
    (1, 20, 0.5, 0.0),
    (25, 26, 1e-3, 1e-4),
    (100, 1000, 6e-4, 6e-5),
]


def _expected(warmup, total, base_lr, min_lr):
    """transformers' schedule, float64, for steps 0..total."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = get_cosine_with_min_lr_schedule_with_warmup(
        opt, num_warmup_steps=warmup, num_training_steps=total, min_lr=min_lr
    )
    lam = sched.lr_lambdas[0]
    return torch.tensor(
        [base_lr * lam(s) for s in range(total + 1)], dtype=torch.float64
    )


def _formula(warmup, total, base_lr, min_lr, bug):
    out = []
    for s in range(total + 1):
        lo = min_lr if bug == "warmup_from_min" else 0.0
        w = warmup
        if s < w:
            num = s + 1 if bug == "warmup_plus_one" else s
            out.append(lo + (base_lr - lo) * num / w)
            continue
        span = total - w
        if bug == "progress_from_zero":
            progress = s / total
        elif bug == "span_minus_one":
            progress = (s - w) / max(1, span - 1)
        else:
            progress = (s - w) / max(1, span)
        cos = 0.5 * (1 + math.cos(math.pi * progress))
        if bug == "full_period":
            cos = 0.5 * (1 + math.cos(2 * math.pi * progress))
        if bug == "min_on_top":
            out.append(min_lr + base_lr * cos)
        elif bug == "no_min":
            out.append(base_lr * cos)
        elif bug == "min_times":
            out.append(base_lr * (min_lr / base_lr + cos) if base_lr else 0.0)
        else:
            out.append(min_lr + (base_lr - min_lr) * cos)
    return torch.tensor(out, dtype=torch.float64)


BUGS = {
    "the warm-up started from min_lr: it is linear from 0 (lr = base_lr * step / "
    "warmup_steps), min_lr is only the floor of the decay": "warmup_from_min",
    "the warm-up is one step ahead ((step + 1) / warmup_steps): step 0 has lr 0": (
        "warmup_plus_one"
    ),
    "the cosine's progress was counted from step 0 (step / total_steps): it starts at 0 "
    "where warm-up ends, progress = (step - warmup_steps) / (total_steps - warmup_steps)": (
        "progress_from_zero"
    ),
    "the decay spans one step too few (total_steps - warmup_steps - 1): min_lr is reached "
    "exactly at step total_steps": "span_minus_one",
    "the cosine ran a full period (cos(2*pi*progress)): the decay is the half cosine "
    "0.5 * (1 + cos(pi * progress))": "full_period",
    "min_lr was added on top of the cosine (min_lr + base_lr * cosine): scale the cosine by "
    "base_lr - min_lr so that it starts at base_lr": "min_on_top",
    "min_lr was ignored: the decay ends at min_lr, not 0": "no_min",
}


def _attempt(impl, warmup, total, base_lr, min_lr, keywords):
    out = []
    for s in range(total + 1):
        if keywords:
            lr = call(
                impl.cosine_with_warmup,
                step=s,
                warmup_steps=warmup,
                total_steps=total,
                base_lr=base_lr,
                min_lr=min_lr,
                what="cosine_with_warmup",
            )
        else:
            lr = call(
                impl.cosine_with_warmup,
                s,
                warmup,
                total,
                base_lr,
                min_lr,
                what="cosine_with_warmup",
            )
        assert isinstance(lr, float) or (
            isinstance(lr, int) and not isinstance(lr, bool)
        ), (
            f"cosine_with_warmup should return a Python float, got {type(lr).__name__} at step {s}"
        )
        out.append(float(lr))
    return torch.tensor(out, dtype=torch.float64)


def _id(case):
    return "warmup={},total={},base={:g},min={:g}".format(*case)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_transformers(impl, case):
    warmup, _, base_lr, _ = case
    got = _attempt(impl, *case, keywords=bool(warmup % 2))
    expected = _expected(*case)
    assert_close_diagnosed(
        got,
        expected,
        lambda: {why: _formula(*case, bug) for why, bug in BUGS.items()},
        what="lr at steps 0..total_steps (index = step)",
        atol=1e-12 * base_lr,
        rtol=1e-9,
        context=_id(case),
    )


def test_default_min_lr_is_zero(impl):
    lr = call(impl.cosine_with_warmup, 30, 10, 30, 1e-3, what="cosine_with_warmup")
    assert abs(float(lr)) < 1e-15, (
        f"with the default min_lr (0) the lr at step total_steps should be 0, got {lr}"
    )
    lr = call(impl.cosine_with_warmup, 20, 10, 30, 1e-3, what="cosine_with_warmup")
    assert abs(float(lr) - 5e-4) < 1e-15, (
        f"halfway through the decay with min_lr=0 the lr should be base_lr/2, got {lr}"
    )


def test_landmarks(impl):
    base, lo = 1e-3, 1e-4
    checks = [
        (0, 0.0, "step 0 of warm-up trains with lr 0"),
        (5, base / 2, "halfway through warm-up is base_lr / 2"),
        (10, base, "the end of warm-up is base_lr"),
        (
            60,
            lo + (base - lo) / 2,
            "halfway through the decay is (base_lr + min_lr) / 2",
        ),
        (110, lo, "total_steps reaches min_lr"),
    ]
    for step, want, why in checks:
        lr = call(
            impl.cosine_with_warmup, step, 10, 110, base, lo, what="cosine_with_warmup"
        )
        assert abs(float(lr) - want) <= 1e-15 + 1e-9 * want, (
            f"cosine_with_warmup({step}, 10, 110, {base}, {lo}) = {lr}, expected {want}: {why}"
        )
