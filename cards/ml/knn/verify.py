"""Verifier for k-nearest-neighbours: against a brute-force reference computed here in float64
(every distance, a stable sort, vote counts, the smallest label among the tied ones) on random
data of several sizes (k = 1, odd and even k, k = n, d = 1, labels 0 / 3 / 7, float64 inputs),
with test rows kept only where the k-th and (k+1)-th squared distances differ by a margin (so
that rounding never changes the neighbours), and on hand-built vote ties whose nearest
neighbour holds the larger label. The output must be int64 (m,) on test_x's device, and the
inputs untouched.

A wrong prediction names the classic mistake it matches, if any: the tie given to the nearest
neighbour's label or to the larger label, the k farthest points, k ± 1 neighbours, k ignored
(1-NN), Manhattan distance."""

import pytest
import torch

from cards.checks import assert_close_diagnosed, assert_unchanged, call, generator


def _predict(train_x, train_y, test_x, k, *, dist="l2", largest=False, tie="smallest"):
    """Brute force in float64 on the CPU, one thing changed per keyword."""
    a = test_x.detach().to("cpu", torch.float64)
    b = train_x.detach().to("cpu", torch.float64)
    y = train_y.detach().cpu()
    diff = a[:, None, :] - b[None, :, :]
    d = diff.abs().sum(-1) if dist == "l1" else diff.pow(2).sum(-1)
    order = torch.sort(d, dim=1, descending=largest, stable=True).indices[:, :k]
    out = []
    for row in order.tolist():
        labels = [int(y[i]) for i in row]  # nearest first
        counts = {}
        for lab in labels:
            counts[lab] = counts.get(lab, 0) + 1
        top = max(counts.values())
        # in order of first appearance
        tied = [lab for lab in counts if counts[lab] == top]
        pick = {"smallest": min(tied), "largest": max(tied), "nearest": tied[0]}[tie]
        out.append(pick)
    return torch.tensor(out, dtype=torch.int64)


def _order(train_x, test_x, k):
    a = test_x.detach().to("cpu", torch.float64)
    b = train_x.detach().to("cpu", torch.float64)
    d = (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)
    return torch.sort(d, dim=1, stable=True).indices


def _skip_nearest(train_x, train_y, test_x, k):
    idx = _order(train_x, test_x, k)[:, 1 : k + 1]
    counts = torch.zeros(idx.shape[0], int(train_y.max()) + 1, dtype=torch.long)
    counts.scatter_add_(1, train_y.cpu()[idx], torch.ones_like(idx))
    return counts.argmax(1)


def _mean_label(train_x, train_y, test_x, k):
    idx = _order(train_x, test_x, k)[:, :k]
    return train_y.cpu()[idx].double().mean(1).round().long()


def _variants(train_x, train_y, test_x, k):
    args = (train_x, train_y, test_x)
    n = train_x.shape[0]
    found = [
        (
            (
                "a tied vote went to the label of the nearest neighbour (as Counter.most_common "
                "or a first-seen scan does): ties go to the smaller label"
            ),
            lambda: _predict(*args, k, tie="nearest"),
        ),
        (
            (
                "a tied vote went to the larger label: ties go to the smaller label (argmax of the "
                "counts returns the first maximum)"
            ),
            lambda: _predict(*args, k, tie="largest"),
        ),
        (
            (
                "the k farthest points voted, not the k nearest: topk needs largest=False (or sort "
                "ascending)"
            ),
            lambda: _predict(*args, k, largest=True),
        ),
        (
            (
                "the distance is Manhattan (sum of |a - b|): use the Euclidean distance (the sum of "
                "squares ranks the same)"
            ),
            lambda: _predict(*args, k, dist="l1"),
        ),
    ]
    found.append(
        (
            (
                "the nearest neighbour was skipped (as if each query were its own nearest training "
                "point): the k nearest training rows all vote"
            ),
            lambda: _skip_nearest(*args, k),
        )
    )
    found.append(
        (
            (
                "the neighbours' labels were averaged and rounded: a majority vote counts each "
                "label and returns the most frequent one"
            ),
            lambda: _mean_label(*args, k),
        )
    )
    if k > 1:
        found.append(
            (
                "k was ignored: the prediction is the single nearest neighbour's label (1-NN)",
                lambda: _predict(*args, 1),
            )
        )
        found.append(
            (f"{k - 1} neighbours voted, not k={k}", lambda: _predict(*args, k - 1))
        )
    if k < n:
        found.append(
            (
                (
                    f"{k + 1} neighbours voted, not k={k} (an off-by-one, or the query counted as "
                    "its own neighbour)"
                ),
                lambda: _predict(*args, k + 1),
            )
        )
    return found


def _data(n, d, m, k, classes, seed, device, dtype=torch.float32):
    """Random clusters; test rows kept only where the k-th and (k+1)-th squared distances are
    at least 1e-3 apart."""
    g = generator(seed)
    labels = torch.tensor(classes)[torch.randint(len(classes), (n,), generator=g)]
    centres = torch.randn(max(classes) + 1, d, generator=g, dtype=torch.float64) * 1.5
    train = centres[labels] + torch.randn(n, d, generator=g, dtype=torch.float64)
    test = torch.randn(3 * m, d, generator=g, dtype=torch.float64) * 1.5
    if k < n:
        d2 = (test[:, None] - train[None]).pow(2).sum(-1).sort(dim=1).values
        keep = (d2[:, k] - d2[:, k - 1]) > 1e-3
        test = test[keep]
    test = test[:m]
    return (
        train.to(device=device, dtype=dtype),
        labels.to(device),
        test.to(device=device, dtype=dtype),
    )


def _run(impl, train_x, train_y, test_x, k, context):
    before = [t.detach().clone() for t in (train_x, train_y, test_x)]
    out = call(impl.knn_predict, train_x, train_y, test_x, k, what="knn_predict")
    for b, t, name in zip(
        before, (train_x, train_y, test_x), ("train_x", "train_y", "test_x")
    ):
        assert_unchanged(b, t, name)
    assert isinstance(out, torch.Tensor), (
        f"knn_predict must return a tensor, got {type(out).__name__}"
    )
    m = test_x.shape[0]
    assert tuple(out.shape) == (m,), (
        f"[{context}] predictions: shape expected ({m},) (one label per test row), got "
        f"{tuple(out.shape)}"
    )
    assert out.dtype == torch.int64, (
        f"[{context}] predictions: dtype expected torch.int64 (labels), got {out.dtype}"
    )
    expected = _predict(train_x, train_y, test_x, k).to(test_x.device)
    assert_close_diagnosed(
        out,
        expected,
        lambda: _variants(train_x, train_y, test_x, k),
        what="predicted labels",
        atol=0,
        rtol=0,
        context=context,
    )


CASES = [
    # n, d, m, k, classes
    (30, 2, 25, 1, (0, 1, 2)),
    (30, 2, 25, 4, (0, 1, 2)),
    (40, 5, 20, 5, (0, 1, 2, 3)),
    (25, 3, 15, 6, (0, 3, 7)),
    (12, 1, 10, 12, (0, 1, 2)),
    (33, 4, 18, 2, (1, 2, 4, 5)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n{c[0]}-d{c[1]}-k{c[3]}")
def test_random_data(impl, device, case):
    n, d, m, k, classes = case
    train_x, train_y, test_x = _data(n, d, m, k, classes, seed=n + k, device=device)
    _run(
        impl,
        train_x,
        train_y,
        test_x,
        k,
        f"n={n}, d={d}, m={test_x.shape[0]}, k={k}, labels {list(classes)}",
    )


def test_float64_inputs(impl, device):
    train_x, train_y, test_x = _data(
        20, 3, 12, 3, (0, 1, 2), seed=5, device=device, dtype=torch.float64
    )
    _run(impl, train_x, train_y, test_x, 3, "float64 inputs, k=3")


def test_tied_votes_go_to_the_smaller_label(impl, device):
    f = {"device": device, "dtype": torch.float32}
    # k=2, 1-D: each query's two neighbours disagree; the nearest holds the larger label.
    train_x = torch.tensor([[0.0], [1.0], [5.0], [6.0]], **f)
    train_y = torch.tensor([5, 2, 2, 0], device=device)
    test_x = torch.tensor([[0.4], [5.3], [0.6]], **f)
    _run(
        impl,
        train_x,
        train_y,
        test_x,
        2,
        "k=2, votes 1-1, the nearest has the larger label",
    )
    # k=4, 2-D: labels 3, 1, 3, 1 at distances 1, 2, 3, 4 from the query: 2-2 -> 1.
    train_x = torch.tensor(
        [[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, -4.0], [9.0, 9.0], [-9.0, 9.0]], **f
    )
    train_y = torch.tensor([3, 1, 3, 1, 0, 0], device=device)
    test_x = torch.tensor([[0.0, 0.0], [0.1, 0.1]], **f)
    _run(
        impl,
        train_x,
        train_y,
        test_x,
        4,
        "k=4, votes 2-2, the nearest has the larger label",
    )
    # k=3: three labels once each (4 nearest, 9, 1): 1; and a real majority (6, 2, 6): 6.
    train_x = torch.tensor([[1.0], [2.1], [3.3], [20.0], [21.5], [23.0]], **f)
    train_y = torch.tensor([4, 9, 1, 6, 2, 6], device=device)
    test_x = torch.tensor([[0.0], [19.5]], **f)
    _run(
        impl, train_x, train_y, test_x, 3, "k=3, votes 1-1-1, then a 2-1 majority for 6"
    )
