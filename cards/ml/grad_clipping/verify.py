"""Verifier for clip_grad_norm_: against torch.nn.utils.clip_grad_norm_ run on float64 CPU
copies of the same gradients, for the 1-, 2-, 3- and inf-norms, below and above max_norm, a
tiny norm (where the 1e-6 shows), a single tensor, a generator, parameters without a gradient,
and no gradient at all.

Checked: the returned total (0-dim, the norm before clipping, in the gradients' dtype and on
their device), every gradient after the call, that the same .grad tensors were scaled in place,
that parameters are untouched. A failed comparison names the classic mistake it matches: one
norm per parameter, the coefficient not capped at 1, norms summed, the square root missing, the
1e-6 left out, the norm after clipping returned."""

import math

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_unchanged,
    call,
    generator,
)

SHAPES = [(4, 3), (7,), (), (2, 3, 2), (5, 1)]


def _params(seed, device, dtype, scale, missing=()):
    """Parameters with gradients of about `scale` per element; indices in `missing` have none."""
    g = generator(seed)
    params = []
    for i, shape in enumerate(SHAPES):
        p = torch.randn(shape, generator=g, dtype=torch.float64)
        grad = torch.randn(shape, generator=g, dtype=torch.float64) * scale
        grad[tuple(0 for _ in shape)] *= (
            3  # one larger entry: the inf-norm has a clear max
        )
        p = p.to(device=device, dtype=dtype).requires_grad_()
        if i not in missing:
            p.grad = grad.to(device=device, dtype=dtype)
        params.append(p)
    return params


def _reference(params, max_norm, norm_type):
    """torch's clip_grad_norm_ on float64 CPU copies: (total, clipped grads or None)."""
    copies = []
    for p in params:
        q = p.detach().to("cpu", torch.float64).clone().requires_grad_()
        if p.grad is not None:
            q.grad = p.grad.detach().to("cpu", torch.float64).clone()
        copies.append(q)
    total = torch.nn.utils.clip_grad_norm_(copies, max_norm, norm_type)
    return total, [q.grad for q in copies]


def _norm(gs, p):
    gs = [g.reshape(-1) for g in gs]
    if p == math.inf:
        return max(g.abs().max() for g in gs)
    return sum((g.abs() ** p).sum() for g in gs) ** (1 / p)


def _variants(grads, max_norm, p):
    """{why: clipped grads (a list)} for the classic mistakes, float64."""
    grads = [g.detach().to("cpu", torch.float64) for g in grads]
    total = _norm(grads, p)

    def scaled(coef):
        return [g * coef for g in grads]

    out = {
        "each parameter was clipped by its own norm: clip_grad_norm_ computes one total norm "
        "over all gradients together and scales them all by the same factor": [
            g * min(1.0, max_norm / (float(_norm([g], p)) + 1e-6)) for g in grads
        ],
        "the gradients were scaled up: the factor is min(1, max_norm / (total + 1e-6)), "
        "so gradients with a norm below max_norm stay as they are": scaled(
            max_norm / (total + 1e-6)
        ),
        "the 1e-6 was left out of the factor: it is max_norm / (total + 1e-6)": scaled(
            min(1.0, max_norm / total)
        ),
    }
    if p != math.inf:
        summed = sum(_norm([g], p) for g in grads)
        out[SUMMED] = scaled(min(1.0, max_norm / (summed + 1e-6)))
        no_root = sum((g.abs() ** p).sum() for g in grads)
        out[NO_ROOT] = scaled(min(1.0, max_norm / (no_root + 1e-6)))
    else:
        two = _norm(grads, 2.0)
        out[INF_AS_TWO] = scaled(min(1.0, max_norm / (two + 1e-6)))
    return out


SUMMED = (
    "the per-parameter norms were added up: the total is the p-norm of all gradients "
    "together, (sum over every entry of |g|^p)^(1/p)"
)
NO_ROOT = "the p-th root is missing from the total norm"
INF_AS_TWO = (
    "norm_type=inf was treated as the 2-norm: the inf-norm is the largest |g| over every "
    "gradient"
)


def _total_variants(grads, p, dtype, device):
    grads = [g.detach().to("cpu", torch.float64) for g in grads]

    def out(x):
        return torch.as_tensor(float(x), dtype=torch.float64).to(
            device=device, dtype=dtype
        )

    if p == math.inf:
        return {INF_AS_TWO: out(_norm(grads, 2.0))}
    return {
        SUMMED: out(sum(_norm([g], p) for g in grads)),
        NO_ROOT: out(sum((g.abs() ** p).sum() for g in grads)),
    }


def _flat(gs):
    return torch.cat([g.reshape(-1) for g in gs])


def _run(impl, params, max_norm, norm_type, context, as_generator=False, single=False):
    """Call the attempt and check its total, its gradients, and that they were scaled in place."""
    expected_total, expected_grads = _reference(
        params[:1] if single else params, max_norm, norm_type
    )
    before = [p.detach().clone() for p in params]
    grads_before = [None if p.grad is None else p.grad.detach().clone() for p in params]
    grad_objects = [p.grad for p in params]
    arg = params[0] if single else ((p for p in params) if as_generator else params)
    kwargs = (
        {} if norm_type == 2.0 and "default" in context else {"norm_type": norm_type}
    )
    total = call(impl.clip_grad_norm_, arg, max_norm, **kwargs, what="clip_grad_norm_")
    checked = [0] if single else range(len(params))
    has_grad = [i for i in checked if grads_before[i] is not None]
    if has_grad:
        dtype, device = params[has_grad[0]].grad.dtype, params[has_grad[0]].grad.device
        assert isinstance(total, torch.Tensor) and total.dim() == 0, (
            f"[{context}] clip_grad_norm_ should return the total norm as a 0-dim tensor, got "
            f"{type(total).__name__}{tuple(total.shape) if isinstance(total, torch.Tensor) else ''}"
        )
        want = expected_total.to(device=device, dtype=dtype)
        if float(total) != float(want):
            after = _norm(
                [params[i].grad.detach().double().cpu() for i in has_grad], norm_type
            )
            if (
                abs(float(total) - float(after)) <= 1e-5 * float(after)
                and float(want) > max_norm
            ):
                raise AssertionError(
                    f"[{context}] the returned norm is the one after clipping ({float(total):.6g}): "
                    f"return the total norm before clipping ({float(want):.6g})"
                )
        assert_close_diagnosed(
            total,
            want,
            lambda: _total_variants(
                [grads_before[i] for i in has_grad], norm_type, dtype, device
            ),
            what="returned total norm",
            context=context,
        )
    for i, p in enumerate(params):
        assert_unchanged(before[i], p, f"parameter {i}")
        if grads_before[i] is None:
            assert p.grad is None, (
                f"[{context}] parameter {i} had no gradient and now has one: skip it"
            )
            continue
        assert p.grad is grad_objects[i], (
            f"[{context}] parameter {i}'s .grad was replaced by a new tensor: scale the "
            "existing gradients in place (g.mul_(coef))"
        )
        if i not in checked:
            assert torch.equal(p.grad, grads_before[i]), (
                f"[{context}] parameter {i} was not passed in, but its gradient changed"
            )
    if not has_grad:
        return total
    sel = [i for i in checked if grads_before[i] is not None]
    got = _flat([params[i].grad for i in sel])
    expected = _flat([expected_grads[i] for i in sel]).to(
        device=got.device, dtype=got.dtype
    )
    assert_close_diagnosed(
        got,
        expected,
        lambda: {
            why: _flat([v[k] for k, _ in enumerate(sel)])
            for why, v in _variants(
                [grads_before[i] for i in sel], max_norm, norm_type
            ).items()
        },
        what="the gradients after clipping (flattened, in parameter order)",
        context=context,
    )
    return total


NORMS = [2.0, 1.0, 3.0, math.inf]


@pytest.mark.parametrize("norm_type", NORMS, ids=["2", "1", "3", "inf"])
@pytest.mark.parametrize("clipped", [True, False], ids=["above", "below"])
def test_matches_torch(impl, device, norm_type, clipped):
    params = _params(0, device, torch.float32, scale=1.0)
    total = float(_reference(params, 1.0, norm_type)[0])
    max_norm = total / 3 if clipped else total * 1.5
    ctx = f"norm_type={norm_type}, max_norm={max_norm:.4g}, total {total:.4g}"
    _run(impl, params, max_norm, norm_type, ctx)


def test_default_norm_and_int_max_norm(impl, device):
    params = _params(1, device, torch.float32, scale=2.0)
    _run(impl, params, 1, 2.0, "default norm_type, max_norm=1 (an int)")


@pytest.mark.parametrize("norm_type", [2.0, math.inf], ids=["2", "inf"])
def test_tiny_norm_float64(impl, device, norm_type):
    # A total of about 1e-3: the 1e-6 in the factor changes it by 1e-3 relative.
    params = _params(2, device, torch.float64, scale=2e-4)
    total = float(_reference(params, 1.0, norm_type)[0])
    _run(impl, params, total / 4, norm_type, f"float64, total norm {total:.3g}")


@pytest.mark.parametrize("norm_type", [2.0, math.inf], ids=["2", "inf"])
def test_parameters_without_grad(impl, device, norm_type):
    params = _params(3, device, torch.float32, scale=1.0, missing=(1, 3))
    _run(impl, params, 0.5, norm_type, "parameters 1 and 3 have .grad None")


def test_generator_and_single_tensor(impl, device):
    params = _params(4, device, torch.float32, scale=1.0)
    _run(impl, params, 0.7, 2.0, "parameters given as a generator", as_generator=True)
    params = _params(5, device, torch.float32, scale=1.0)
    _run(impl, params, 0.3, 2.0, "one tensor (not a list)", single=True)


def test_half_precision(impl, device):
    params = _params(6, device, torch.bfloat16, scale=1.0)
    expected_total, expected_grads = _reference(params, 0.5, 2.0)
    total = call(impl.clip_grad_norm_, params, 0.5, what="clip_grad_norm_")
    assert isinstance(total, torch.Tensor) and total.dim() == 0, (
        "clip_grad_norm_ should return the total norm as a 0-dim tensor"
    )
    assert_close(
        total.float(),
        expected_total.float().to(device),
        what="returned total norm",
        atol=0.02,
        rtol=0.02,
        context="bfloat16 gradients",
    )
    got = _flat([p.grad for p in params])
    assert got.dtype == torch.bfloat16, "the gradients must keep their dtype (bfloat16)"
    assert_close(
        got.float(),
        _flat(expected_grads).float().to(device),
        what="gradients after clipping",
        atol=0.02,
        rtol=0.03,
        context="bfloat16 gradients",
    )


def test_no_gradients_at_all(impl, device):
    params = _params(7, device, torch.float32, scale=1.0, missing=range(len(SHAPES)))
    total = call(impl.clip_grad_norm_, params, 1.0, what="clip_grad_norm_")
    assert (
        isinstance(total, torch.Tensor) and total.dim() == 0 and float(total) == 0.0
    ), (
        f"with no gradient at all clip_grad_norm_ should return a 0-dim zero tensor, got {total!r}"
    )
    assert all(p.grad is None for p in params)
