"""Verifier for the knowledge-distillation loss: F.kl_div (log_target=True) on float64
log-probabilities for the soft term, F.cross_entropy for the hard label term, both computed in
float64 from the very same inputs. (Moved here from the kl_divergence card.)

On a failed comparison the message names the classic mistake the value matches: the KL the
wrong way round, no T^2, cross-entropy on tempered logits, alpha swapped, the temperature on
one side only, a sum or a mean over every element instead of batchmean, log(softmax)."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_tensor,
    assert_unchanged,
    diagnose,
    generator,
    tolerance,
)


# -- float64 references ---------------------------------------------------------------------
def _ref_kl(p_logits, q_logits, temperature=1.0, q_temperature=None):
    """KL(P||Q) of (N, C) logits: sum over classes, mean over rows. (q_temperature: hints only.)"""
    q_temperature = temperature if q_temperature is None else q_temperature
    log_p = F.log_softmax(p_logits.double() / temperature, dim=-1)
    log_q = F.log_softmax(q_logits.double() / q_temperature, dim=-1)
    # F.kl_div(input=log Q, target=log P) computes sum P (log P - log Q).
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def _ref_distill(student, teacher, labels, temperature, alpha):
    soft = _ref_kl(teacher, student, temperature) * temperature**2
    hard = F.cross_entropy(student.double(), labels)
    return alpha * soft + (1 - alpha) * hard


# -- helpers ---------------------------------------------------------------------------------
def _logits(shape, seed, device, dtype=torch.float32, scale=2.0):
    return (
        torch.randn(shape, generator=generator(seed), dtype=torch.float64) * scale
    ).to(device=device, dtype=dtype)


def _inputs(n, c, seed, device, dtype=torch.float32, teacher_scale=3.0):
    student = _logits((n, c), seed, device, dtype)
    teacher = _logits((n, c), seed + 100, device, dtype, scale=teacher_scale)
    labels = torch.randint(0, c, (n,), generator=generator(seed + 200)).to(device)
    return student, teacher, labels


def _check(actual, expected, dtype, *, what, context, hints=None, atol=None, rtol=None):
    """assert_close against expected (cast to dtype); on failure, name the known bugs it matches.
    `hints` is a callable returning (description, wrong value) pairs, only evaluated on failure."""
    default_atol, default_rtol = tolerance(dtype)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    try:
        assert_close(
            actual, expected.to(dtype), what=what, context=context, atol=atol, rtol=rtol
        )
    except AssertionError as exc:
        words = diagnose(actual, expected, hints() if hints else [], atol, rtol)
        raise AssertionError(f"{exc}{words}") from None


def _unchanged(before, after, name, temperature):
    """assert_unchanged; names an in-place division by the temperature."""
    try:
        assert_unchanged(before, after, name)
    except AssertionError as exc:
        words = ""
        if (
            temperature != 1.0
            and after.is_floating_point()
            and torch.allclose(
                after.detach().double(), before.double() / temperature, rtol=1e-6
            )
        ):
            words = (
                f"\nlikely bug (`{name}` now holds {name} / temperature): it was divided by "
                f"the temperature in place (`/=` or div_); write `{name} / temperature`, "
                "which makes a new tensor"
            )
        raise AssertionError(f"{exc}{words}") from None


def _naive_kl(p, q, temperature, *, no_max=False):
    """KL the naive way, in the inputs' own precision: log(softmax(x)), or with `no_max` a
    softmax by hand without subtracting the max."""

    def log_probs(x):
        z = x.detach().cpu() / temperature
        if no_max:
            e = z.exp()
            return (e / e.sum(-1, keepdim=True)).log()
        return F.softmax(z, dim=-1).log()

    lp, lq = log_probs(p), log_probs(q)
    return (lp.exp() * (lp - lq)).sum(-1).mean().double().to(p.device)


def _hints(s, t, y, temperature, alpha):
    """(the mistake in the user's terms, the loss it gives), float64."""
    T2 = temperature**2
    soft = _ref_kl(t, s, temperature)
    hard = F.cross_entropy(s.double(), y)
    n, c = s.shape

    def with_soft(kl):
        return alpha * T2 * kl + (1 - alpha) * hard

    hints = [
        (
            (
                "KL(student||teacher): the distillation KL is KL(teacher||student), the teacher "
                "is the target (the expectation is under the teacher's distribution)"
            ),
            with_soft(_ref_kl(s, t, temperature)),
        ),
        (
            (
                "a mean over every element (divided by C too) in the KL: average over the N rows "
                "only, like 'batchmean'"
            ),
            with_soft(soft / c),
        ),
        (
            (
                "log(softmax(x)) in the KL: a probability that underflows to exactly 0 gives "
                "log(0) = -inf and 0 * -inf = nan; use log_softmax"
            ),
            lambda: with_soft(_naive_kl(t, s, temperature)),
        ),
        (
            (
                "exp(logits) without subtracting the max first overflows to inf; use "
                "log_softmax / logsumexp"
            ),
            lambda: with_soft(_naive_kl(t, s, temperature, no_max=True)),
        ),
    ]
    if n > 1:
        hints.append(
            (
                "a sum over the rows in the KL: average the per-row KL over N (batchmean)",
                with_soft(soft * n),
            )
        )
    if temperature != 1.0:
        hints += [
            ("the soft term without the T^2 factor", alpha * soft + (1 - alpha) * hard),
            (
                "the soft term multiplied by T, not T^2",
                alpha * temperature * soft + (1 - alpha) * hard,
            ),
            (
                (
                    "a cross-entropy on temperature-scaled logits; the hard term uses the raw "
                    "student logits"
                ),
                alpha * T2 * soft
                + (1 - alpha) * F.cross_entropy(s.double() / temperature, y),
            ),
            (
                "the KL without the temperature; divide both logits by T",
                with_soft(_ref_kl(t, s, 1.0)),
            ),
            (
                "the temperature applied to the teacher's logits only; divide both by T",
                with_soft(_ref_kl(t, s, temperature, 1.0)),
            ),
            (
                "the temperature applied to the student's logits only; divide both by T",
                with_soft(_ref_kl(t, s, 1.0, temperature)),
            ),
        ]
    if alpha != 0.5:
        hints.append(
            (
                "alpha and 1 - alpha swapped; alpha weights the soft (KL) term",
                (1 - alpha) * T2 * soft + alpha * hard,
            )
        )
    return hints


def _distill(impl, s, t, y, **kwargs):
    """impl.distillation_loss, with every input checked unchanged afterwards: the expected
    value, computed from them next, is then the original inputs'."""
    before = [v.detach().clone() for v in (s, t, y)]
    out = impl.distillation_loss(s, t, y, **kwargs)
    for b, v, name in zip(
        before, (s, t, y), ("student_logits", "teacher_logits", "labels")
    ):
        assert_unchanged(b, v, name)
    return out


# -- tests -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n,c", [(1, 7), (6, 13), (9, 33)])
@pytest.mark.parametrize(
    "temperature,alpha", [(2.0, 0.5), (4.0, 0.3), (0.5, 0.7), (1.0, 0.9)]
)
def test_matches_formula(impl, device, n, c, temperature, alpha):
    s, t, y = _inputs(n, c, 50 + n, device)
    before = [s.clone(), t.clone(), y.clone()]
    out = _distill(impl, s, t, y, temperature=temperature, alpha=alpha)
    for b, a, name in zip(
        before, [s, t, y], ["student_logits", "teacher_logits", "labels"]
    ):
        _unchanged(b, a, name, temperature)
    _check(
        out,
        _ref_distill(s, t, y, temperature, alpha),
        torch.float32,
        what="distillation_loss",
        context=f"N={n}, C={c}, temperature={temperature}, alpha={alpha}",
        hints=lambda: _hints(s, t, y, temperature, alpha),
    )


def test_defaults(impl, device):
    s, t, y = _inputs(5, 11, 60, device)
    _check(
        _distill(impl, s, t, y),
        _ref_distill(s, t, y, 2.0, 0.5),
        torch.float32,
        what="distillation_loss(student, teacher, labels)",
        context="defaults temperature=2, alpha=0.5",
        hints=lambda: _hints(s, t, y, 2.0, 0.5),
    )


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_alpha_endpoints(impl, device, alpha):
    # alpha=1: soft term only; alpha=0: hard cross-entropy only.
    s, t, y = _inputs(7, 9, 61, device)
    _check(
        _distill(impl, s, t, y, temperature=3.0, alpha=alpha),
        _ref_distill(s, t, y, 3.0, alpha),
        torch.float32,
        what="distillation_loss",
        context=f"temperature=3, alpha={alpha}",
        hints=lambda: _hints(s, t, y, 3.0, alpha),
    )


def test_direction_matters(impl, device):
    # A peaked teacher against a flat student: the two KL directions differ by far more than
    # any tolerance.
    s = _logits((6, 17), 65, device, scale=0.5)
    t = _logits((6, 17), 66, device, scale=4.0)
    y = torch.randint(0, 17, (6,), generator=generator(67)).to(device)
    assert (_ref_kl(t, s, 2.0) - _ref_kl(s, t, 2.0)).abs() > 0.1, "test setup"
    _check(
        _distill(impl, s, t, y, temperature=2.0, alpha=1.0),
        _ref_distill(s, t, y, 2.0, 1.0),
        torch.float32,
        what="distillation_loss",
        context="peaked teacher, flat student, alpha=1 (soft term only)",
        hints=lambda: _hints(s, t, y, 2.0, 1.0),
    )


def test_confident_teacher_stays_finite(impl, device):
    # A very confident teacher (logits x 100): its probabilities underflow to 0 in float32.
    s, t, y = _inputs(6, 13, 62, device, teacher_scale=100.0)
    _check(
        _distill(impl, s, t, y, temperature=2.0, alpha=0.5),
        _ref_distill(s, t, y, 2.0, 0.5),
        torch.float32,
        what="distillation_loss",
        context="teacher logits ~ N(0, 100^2), temperature=2",
        hints=lambda: _hints(s, t, y, 2.0, 0.5),
        rtol=1e-3,
        atol=1e-3,
    )


def test_float64(impl, device):
    s, t, y = _inputs(5, 17, 63, device, torch.float64)
    _check(
        _distill(impl, s, t, y, temperature=2.0, alpha=0.4),
        _ref_distill(s, t, y, 2.0, 0.4),
        torch.float64,
        what="distillation_loss",
        context="float64 logits",
        hints=lambda: _hints(s, t, y, 2.0, 0.4),
    )


@pytest.mark.parametrize("temperature,alpha", [(2.0, 0.5), (4.0, 0.8)])
def test_gradient_wrt_student(impl, device, temperature, alpha):
    s, t, y = _inputs(6, 13, 64, device)
    s.requires_grad_()
    s64 = s.detach().double().requires_grad_()
    out = _distill(impl, s, t, y, temperature=temperature, alpha=alpha)
    assert_tensor(out, "distillation_loss")
    assert out.requires_grad, (
        "distillation_loss: no gradient reaches student_logits (is the result detached?)"
    )
    out.backward()
    _ref_distill(s64, t, y, temperature, alpha).backward()
    assert s.grad is not None, "no gradient reached student_logits"
    assert_close(
        s.grad,
        s64.grad.float(),
        what="gradient of distillation_loss w.r.t. student_logits",
        context=f"temperature={temperature}, alpha={alpha}",
        atol=1e-6,
        rtol=1e-4,
    )
