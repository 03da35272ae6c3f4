"""Verifier for kmeans: against Lloyd's iterations computed here in float64 on the CPU with the
contract's rules (scipy's kmeans2 with given centroids, minit="matrix"): a distance tie goes to
the lower centroid index, an empty cluster keeps its previous centroid, the assignments are those
of the last assignment step, exactly `iters` iterations. Data: separated blobs (checked here to
have no near-ties, so float32 rounding cannot flip an assignment), integer grids with exact ties,
a centroid that never gets a point, float32 and float64, non-contiguous input. Failures name the
mistake whose output matches: empty clusters dropped, zeroed or NaN, ties to the higher index,
assignments recomputed after the last update, one iteration too many or too few."""

import pytest
import torch

from cards.checks import assert_close_diagnosed, assert_unchanged, call, generator


def lloyd(x, init, iters, tie="low", empty="keep", reassign=False):
    """Float64 Lloyd on the CPU; the keyword arguments make the known mistakes."""
    x = x.detach().cpu().double()
    c = init.detach().cpu().double().clone()
    k = c.shape[0]
    a = None
    margins = []
    for _ in range(iters):
        d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        if tie == "low":
            a = d2.argmin(1)
        else:  # the last minimum
            a = k - 1 - d2.flip(1).argmin(1)
        best = d2.gather(1, a[:, None])
        others = d2.masked_fill(torch.nn.functional.one_hot(a, k).bool(), float("inf"))
        margins.append(
            (others.min(1).values - best[:, 0]).min().item() if k > 1 else 1.0
        )
        counts = torch.bincount(a, minlength=k)
        sums = torch.zeros_like(c).index_add_(0, a, x)
        means = sums / counts.clamp(min=1)[:, None]
        if empty == "keep":
            c = torch.where(counts[:, None] > 0, means, c)
        elif empty == "zero":
            c = torch.where(counts[:, None] > 0, means, torch.zeros_like(c))
        elif empty == "nan":
            c = sums / counts[:, None]
        elif empty == "drop":
            c = means[counts > 0]
            k = c.shape[0]
    if reassign:
        a = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1).argmin(1)
    return c, a, margins


def _blobs(n, d, k, seed, spread=0.6):
    g = generator(seed)
    centres = torch.randn(k, d, generator=g, dtype=torch.float64) * 4
    labels = torch.randint(0, k, (n,), generator=g)
    return centres[labels] + spread * torch.randn(
        n, d, generator=g, dtype=torch.float64
    )


def _run(impl, x, init, iters, context, dtype, check_margins=True):
    device = x.device
    x_before, init_before = x.clone(), init.clone()
    out = call(impl.kmeans, x, init, iters)
    assert_unchanged(x_before, x, "x")
    assert_unchanged(init_before, init, "init_centroids")
    assert isinstance(out, (tuple, list)) and len(out) == 2, (
        f"[{context}] kmeans must return (centroids, assignments)"
    )
    centroids, assignments = out
    want_c, want_a, margins = lloyd(x, init, iters)
    if check_margins:  # the verifier's own data: no near-tie that rounding could flip
        assert min(margins) > 1e-3, f"verifier data has a near tie ({min(margins)})"
    variants = {
        "an empty cluster's centroid became NaN (0 / 0): a cluster with no points keeps its "
        "previous centroid": lambda: lloyd(x, init, iters, empty="nan"),
        "an empty cluster's centroid was set to zero: a cluster with no points keeps its "
        "previous centroid": lambda: lloyd(x, init, iters, empty="zero"),
        "an empty cluster was dropped: there are always k centroids, and an empty cluster "
        "keeps its previous one": lambda: lloyd(x, init, iters, empty="drop"),
        "a distance tie went to the higher centroid index: a tie goes to the lower index "
        "(the first minimum, as argmin gives)": lambda: lloyd(
            x, init, iters, tie="high"
        ),
        "the assignments were recomputed after the last update: return those of the last "
        "assignment step (the ones the final centroids are the means of)": lambda: (
            lloyd(x, init, iters, reassign=True)
        ),
        f"ran {iters + 1} rounds, not {iters}: exactly `iters` rounds of assign + "
        "update": lambda: lloyd(x, init, iters + 1),
    }
    if iters > 1:
        variants[
            f"the centroids are those of {iters - 1} update(s), not {iters}: a round was "
            "missed or the last update skipped; exactly `iters` rounds of assign + update"
        ] = lambda: lloyd(x, init, iters - 1)

    def pick(i):
        out = {}
        for why, make in variants.items():
            try:
                out[why] = make()[i]
            except RuntimeError:
                continue
        return out

    k, d = init.shape
    if (
        isinstance(centroids, torch.Tensor)
        and centroids.dim() == 2
        and centroids.shape[0] < k
    ):
        raise AssertionError(
            f"[{context}] centroids: shape expected {(k, d)}, got {tuple(centroids.shape)}: an "
            "empty cluster was dropped: there are always k centroids, and a cluster with no "
            "points keeps its previous one"
        )
    assert_close_diagnosed(
        centroids,
        want_c.to(device=device, dtype=dtype),
        lambda: {w: v.to(dtype).double() for w, v in pick(0).items()},
        what="centroids",
        context=context,
    )
    assert isinstance(assignments, torch.Tensor), (
        f"[{context}] assignments: not a tensor"
    )
    assert assignments.dtype == torch.int64, (
        f"[{context}] assignments: dtype expected torch.int64, got {assignments.dtype}"
    )

    def same_centroids(why):
        # name an assignment mistake only if the centroids fit it too (they are right here)
        c = variants[why]()[0]
        return c.shape == want_c.shape and bool(torch.allclose(c, want_c, atol=1e-5))

    assert_close_diagnosed(
        assignments,
        want_a.to(device),
        lambda: {w: v for w, v in pick(1).items() if same_centroids(w)},
        what="assignments",
        atol=0,
        rtol=0,
        context=context,
    )


@pytest.mark.parametrize("iters", [1, 2, 5, 25])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blobs(impl, device, dtype, iters):
    x = _blobs(150, 3, 4, seed=1)
    g = generator(2)
    init = x[torch.randperm(150, generator=g)[:5]] + 0.3  # 5 centroids, 4 blobs
    x, init = x.to(device, dtype), init.to(device, dtype)
    _run(
        impl,
        x,
        init,
        iters,
        f"150 points in 4 blobs, k=5, iters={iters}, {dtype}",
        dtype,
    )


@pytest.mark.parametrize("iters", [1, 3])
def test_empty_cluster_keeps_its_centroid(impl, device, iters):
    x = _blobs(80, 2, 3, seed=3)
    init = torch.cat(
        [x[:2], torch.tensor([[60.0, -60.0]], dtype=torch.float64), x[2:4]]
    )
    x, init = x.to(device, torch.float32), init.to(device, torch.float32)
    _run(
        impl,
        x,
        init,
        iters,
        f"centroid 2 far from every point, iters={iters}",
        torch.float32,
    )


def test_ties_go_to_the_lower_index(impl, device):
    # integer points and centroids: squared distances are exact in any float formula
    x = torch.tensor(
        [
            [0, 0],
            [2, 0],
            [1, 0],
            [1, 1],
            [3, 3],
            [5, 3],
            [4, 3],
            [4, 4],
            [9, 9],
            [0, 2],
        ],
        dtype=torch.float32,
    )
    init = torch.tensor([[4, 5], [0, 1], [2, 1], [5, 2], [1, -1]], dtype=torch.float32)
    # [1, 1] is 1 from centroids 1 and 2 (-> 1); [3, 3] is 5 from 0 and 3 (-> 0)
    _run(
        impl,
        x.to(device),
        init.to(device),
        1,
        "integer points with exact distance ties",
        torch.float32,
        check_margins=False,
    )
    # a tie between two centroids listed high index first in space
    x2 = torch.tensor(
        [[0, 0], [2, 0], [6, 0], [8, 0], [4, 0], [4, 1]], dtype=torch.float64
    )
    init2 = torch.tensor([[3, 0], [9, 0], [5, 0], [1, 0]], dtype=torch.float64)
    _run(
        impl,
        x2.to(device),
        init2.to(device),
        1,
        "points midway between two centroids",
        torch.float64,
        check_margins=False,
    )


def test_non_contiguous_input(impl, device):
    x = _blobs(90, 4, 3, seed=5).t().contiguous().t()  # (90, 4), column-major
    init = x[[0, 10, 20]].clone()
    x, init = x.to(device, torch.float32), init.to(device, torch.float32)
    x = x.t().contiguous().t()
    _run(impl, x, init, 3, "non-contiguous x (column-major)", torch.float32)
