"""Verifier for GPTQ. Without groups: the output equals a float64 GPTQ (row by row) for several
block sizes, which must not change it. With groups, where correct implementations differ
element by element: the output error trace((W - Q) H (W - Q)^T) beats round-to-nearest by far
on correlated inputs, each row-group holds at most 2^bits values, and the first group sits on
the grid of the original weights. Inputs must stay unmodified.

A mismatch names the classic mistake whose float64 output the attempt equals: no error
feedback (round-to-nearest, e.g. a lower Cholesky factor indexed as upper), no lazy update
across blocks, the error not divided by the diagonal, H^-1 used without its Cholesky factor,
the Cholesky factor of H instead of H^-1, no damping, a grid without 0, ..."""

import pytest
import torch

from cards.checks import assert_tensor, assert_unchanged, call, generator

ROWS, COLS = 12, 48


def _problem(rows, cols, seed, dtype=torch.float64):
    """A weight and the Hessian 2 X^T X / n of correlated inputs (low rank plus noise)."""
    g = generator(seed)
    n = 4 * cols
    low = torch.randn(n, 6, generator=g, dtype=torch.float64) @ torch.randn(
        6, cols, generator=g, dtype=torch.float64
    )
    X = low + 0.3 * torch.randn(n, cols, generator=g, dtype=torch.float64)
    H = 2 * X.T @ X / n
    W = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    W[0] = W[0].abs() + 0.3  # rows of one sign: their grid must still reach 0
    W[1] = -W[1].abs() - 0.3
    W[2] = W[2].abs() + 0.05
    return W.to(dtype), H.to(dtype)


def _grid(w, maxq, with_zero=True):
    lo, hi = w.amin(1, keepdim=True), w.amax(1, keepdim=True)
    if with_zero:
        lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    same = lo == hi
    lo, hi = torch.where(same, -1.0, lo), torch.where(same, 1.0, hi)
    scale = (hi - lo) / maxq
    return scale, torch.round(-lo / scale)


def _q(w, scale, zero, maxq):
    return scale * (torch.clamp(torch.round(w / scale) + zero, 0, maxq) - zero)


def _gptq64(W, H, bits, damp, block, kind="right"):
    """Float64 GPTQ without groups on the CPU; `kind` names a classic mistake instead."""
    W = W.detach().to("cpu", torch.float64).clone()
    H = H.detach().to("cpu", torch.float64).clone()
    cols = W.shape[1]
    maxq = 2**bits - 1
    eye = torch.eye(cols, dtype=torch.float64)
    if kind == "damp_unscaled":
        H = H + damp * eye
    elif kind != "no_damp":
        H = H + damp * torch.diag(H).mean() * eye
    if kind == "plain_inverse":
        Hinv = torch.linalg.inv(H)
    elif kind == "chol_of_h":
        Hinv = torch.linalg.cholesky(H, upper=True)
    else:
        Hinv = torch.linalg.cholesky(torch.linalg.inv(H), upper=True)
    if kind == "rtn":
        Hinv = torch.diag(torch.diag(Hinv))
    scale, zero = _grid(W, maxq, with_zero=kind != "no_zero")
    Q = torch.zeros_like(W)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, Hinv1 = W[:, i1:i2].clone(), Hinv[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        for i in range(i2 - i1):
            w = W1[:, i]
            q = _q(w[:, None], scale, zero, maxq)[:, 0]
            Q[:, i1 + i] = q
            err = (w - q) if kind == "no_divide" else (w - q) / Hinv1[i, i]
            W1[:, i:] -= err[:, None] * Hinv1[i, i:][None, :]
            Err1[:, i] = err
        if kind != "no_lazy":
            W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return Q


BUGS = {
    "rtn": "no error was propagated: the output is round-to-nearest. Each column's error "
    "(w - q) / d must update the later columns through the upper Cholesky factor of H^-1 "
    "(a lower factor indexed as Hinv[i, i:] gives exactly this: use upper=True)",
    "no_lazy": "the error of a block was not propagated to the columns after it: after "
    "each block, W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]",
    "no_divide": "the error was not divided by the Cholesky diagonal: err = (w - q) / "
    "Hinv[i, i]",
    "plain_inverse": "the inverse Hessian was used directly: use its upper Cholesky "
    "factor, cholesky(H^-1, upper=True)",
    "chol_of_h": "the Cholesky factor of H was used, not of its inverse H^-1",
    "no_damp": "no damping: add damp_percent * mean(diag(H)) to H's diagonal",
    "damp_unscaled": "the damping is damp_percent itself: add damp_percent * "
    "mean(diag(H)) to H's diagonal",
    "no_zero": "the grid does not include 0: take min(row min, 0) and max(row max, 0)",
}


def _rows_matching(actual, expected, atol=1e-4, rtol=1e-4):
    """Per row: every value within the tolerance."""
    ok = (actual - expected).abs() <= atol + rtol * expected.abs()
    return ok.all(dim=1)


def _check_output(out, W, what):
    assert_tensor(out, what)
    assert out.shape == W.shape, (
        f"{what}: shape expected {tuple(W.shape)} (the dequantised weight), got "
        f"{tuple(out.shape)}"
    )
    assert out.dtype == W.dtype, (
        f"{what}: dtype expected {W.dtype} (the weight's), got {out.dtype}"
    )
    assert out.device.type == W.device.type, (
        f"{what}: device expected {W.device.type}, got {out.device.type}"
    )
    o = out.detach().cpu().double()
    assert torch.isfinite(o).all(), f"{what}: has non-finite values"
    return o


def _run(impl, W, H, **kwargs):
    Wb, Hb = W.clone(), H.clone()
    out = call(impl.gptq_quantize, W, H, what="gptq_quantize", **kwargs)
    assert_unchanged(Wb, W, "weight")
    assert_unchanged(Hb, H, "hessian")
    return out


def _err(W, Q, H):
    D = W.detach().cpu().double() - Q
    return torch.trace(D @ H.detach().cpu().double() @ D.T).item()


CASES = [  # (bits, block_size, damp_percent); None: the default
    (4, None, None),
    (4, 16, 0.01),
    (3, 7, 0.01),
    (2, 20, 0.1),
    (4, 48, 0.05),
]


@pytest.mark.parametrize("bits,block,damp", CASES)
def test_matches_float64_gptq_without_groups(impl, device, bits, block, damp):
    W, H = _problem(ROWS, COLS, bits + (block or 0))
    W, H = W.to(device), H.to(device)
    kwargs = {"bits": bits}
    if block is not None:
        kwargs["block_size"] = block
    if damp is not None:
        kwargs["damp_percent"] = damp
    out = _check_output(_run(impl, W, H, **kwargs), W, "gptq_quantize")
    block, damp = block or 128, 0.01 if damp is None else damp
    expected = _gptq64(W, H, bits, damp, block)
    rows = _rows_matching(out, expected)
    if int((~rows).sum()) <= 1:  # one row may flip a near-tie when computed in float32
        return
    found = []
    for kind, why in BUGS.items():
        if kind == "no_lazy" and block >= COLS:
            continue
        variant = _gptq64(W, H, bits, damp, block, kind)
        if int((~_rows_matching(out, variant)).sum()) <= 1:
            found.append(why)
    wrong = (~rows).nonzero()[0].item()
    col = int(((out[wrong] - expected[wrong]).abs() > 1e-4).nonzero()[0])
    note = "".join(
        f"\nlikely bug (the output matches this mistake): {why}" for why in found
    )
    raise AssertionError(
        f"gptq_quantize [bits={bits}, block_size={block}, damp_percent={damp}, no groups, "
        f"weight ({ROWS}, {COLS}) float64]: {int((~rows).sum())} of {ROWS} rows differ from "
        f"a float64 GPTQ; first at ({wrong}, {col}): got {out[wrong, col].item():.6g}, "
        f"expected {expected[wrong, col].item():.6g}. Error trace((W-Q) H (W-Q)^T): "
        f"{_err(W, out, H):.4g}, GPTQ's {_err(W, expected, H):.4g}, round-to-nearest's "
        f"{_err(W, _gptq64(W, H, bits, damp, block, 'rtn'), H):.4g}" + note
    )


def _rtn_groups(W, bits, group):
    W = W.detach().cpu().double()
    maxq = 2**bits - 1
    out = torch.empty_like(W)
    for j in range(0, W.shape[1], group):
        s, z = _grid(W[:, j : j + group], maxq)
        out[:, j : j + group] = _q(W[:, j : j + group], s, z, maxq)
    return out


@pytest.mark.parametrize(
    "bits,group,block",
    [(4, 16, 128), (4, 16, 24), (3, 16, 16), (2, 12, 20), (4, 24, 7)],
)
def test_groups_error_and_levels(impl, device, bits, group, block):
    W, H = _problem(ROWS, COLS, 100 + bits + group + block, torch.float32)
    W, H = W.to(device), H.to(device)
    out = _run(impl, W, H, bits=bits, group_size=group, block_size=block)
    out = _check_output(out, W, "gptq_quantize")
    context = f"bits={bits}, group_size={group}, block_size={block}"
    for j in range(0, COLS, group):
        for r in range(ROWS):
            levels = torch.unique(out[r, j : j + group].float())
            assert levels.numel() <= 2**bits, (
                f"gptq_quantize [{context}]: row {r}, columns {j}..{j + group - 1} hold "
                f"{levels.numel()} distinct values; a group's grid has at most 2^{bits} = "
                f"{2**bits}: compute the grid once per group (when the column index is a "
                "multiple of group_size), not per column"
            )
    # The first group's grid comes from the original weights, whatever the convention.
    maxq = 2**bits - 1
    scale, zero = _grid(W.cpu().double()[:, :group], maxq)
    k = out[:, :group] / scale + zero
    on_grid = ((k - k.round()).abs() < 1e-3) & (k.round() >= 0) & (k.round() <= maxq)
    assert on_grid.all(), (
        f"gptq_quantize [{context}]: in the first group (columns 0..{group - 1}) values "
        "are off the group's grid: the min-max grid with 0, from that group's own "
        f"columns of each row, {2**bits} levels (is group_size ignored?)"
    )
    err, rtn = _err(W, out, H), _err(W, _rtn_groups(W, bits, group), H)
    assert err < 0.5 * rtn, (
        f"gptq_quantize [{context}]: error trace((W-Q) H (W-Q)^T) = {err:.4g}, round-to-"
        f"nearest with the same groups gives {rtn:.4g}: on these correlated inputs GPTQ's "
        "error feedback must do far better (is each column's error spread over the later "
        "columns, across blocks and groups?)"
    )


@pytest.mark.parametrize("bits", [4, 3])
def test_float32_beats_round_to_nearest(impl, device, bits):
    W, H = _problem(16, 40, 200 + bits, torch.float32)
    W, H = W.to(device), H.to(device)
    out = _check_output(_run(impl, W, H, bits=bits, block_size=16), W, "gptq_quantize")
    err = _err(W, out, H)
    rtn = _err(W, _gptq64(W, H, bits, 0.01, 16, "rtn"), H)
    assert err < 0.5 * rtn, (
        f"gptq_quantize [bits={bits}, float32]: error trace((W-Q) H (W-Q)^T) = {err:.4g}, "
        f"round-to-nearest gives {rtn:.4g}: GPTQ must do far better on correlated inputs"
    )
    expected = _gptq64(W, H, bits, 0.01, 16)
    rows = _rows_matching(out, expected, atol=1e-3, rtol=1e-3)
    assert int((~rows).sum()) <= 2, (
        f"gptq_quantize [bits={bits}, float32 weight]: {int((~rows).sum())} of 16 rows "
        "differ from a float64 GPTQ beyond float32 rounding"
    )
