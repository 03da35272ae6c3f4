"""Verifier for the retrieval pieces: mean_pool and cosine_top_k against float64 formulas,
chunk_text against the contract's rule written out here.

A wrong result is compared with the classic mistakes' results (padding counted in the mean,
dividing by the full length, dot product instead of cosine, ascending order; chunks that run on
past the end, drop the tail or ignore the overlap), and the one the attempt matches is named.
cosine_top_k is checked so that any order among tied documents passes: the scores must be the
k best, and each index must point at a document with that score."""

import signal

import pytest
import torch

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_float64_math,
    assert_unchanged,
    call,
    generator,
    randn,
    tolerance,
)

# -- mean_pool --------------------------------------------------------------------------------

# Per row: which positions are real tokens. Right padding, left padding, a full row, one token.
MASK_ROWS = [
    [1, 1, 1, 1, 0, 0, 0],
    [0, 0, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 1],
    [1, 0, 0, 0, 0, 0, 0],
]


def _mask(rows, dtype, device):
    m = torch.tensor(rows)
    return (m.bool() if dtype is torch.bool else m.to(dtype)).to(device)


def _pool64(h, mask):
    h, m = h.detach().to("cpu", torch.float64), mask.detach().to("cpu", torch.float64)
    return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)


def _pool_variants(h, mask):
    h, m = h.detach().to("cpu", torch.float64), mask.detach().to("cpu", torch.float64)
    masked = (h * m[..., None]).sum(1)
    return {
        "padding positions were averaged in: the mean must count only the tokens whose "
        "attention_mask is 1 (multiply by the mask, divide by the mask's sum per row)": h.mean(
            1
        ),
        "the masked sum was divided by the full length T, not by the number of real tokens "
        "in that row (attention_mask.sum(1))": masked / h.shape[1],
        "the masked sum was divided by the number of real tokens in the whole batch, not in "
        "that row: sum the mask over dim 1 only, keeping one count per row": masked
        / m.sum(),
        "the masked sum was not divided by the token count": masked,
        "the first token was taken (CLS pooling): mean pooling averages every real token": h[
            :, 0
        ],
    }


def _check_pool(impl, h, mask, context, scale=1):
    before_h, before_m = h.clone(), mask.clone()
    out = call(impl.mean_pool, h, mask)
    assert_unchanged(before_h, h, "last_hidden_state")
    assert_unchanged(before_m, mask, "attention_mask")
    atol, rtol = tolerance(h.dtype)
    if h.dtype == torch.float64:
        assert_float64_math(out, _pool64(h, mask), "mean_pool output", context)
    assert_close_diagnosed(
        out,
        _pool64(h, mask).to(device=h.device, dtype=h.dtype),
        lambda: _pool_variants(h, mask),
        atol=atol * scale,
        rtol=rtol * scale,
        context=context,
    )
    return out


@pytest.mark.parametrize("mask_dtype", [torch.int64, torch.bool, torch.float32])
def test_mean_pool_counts_only_real_tokens(impl, device, mask_dtype):
    h = randn((4, 7, 5), seed=1, device=device, scale=2) + 1
    mask = _mask(MASK_ROWS, mask_dtype, device)
    _check_pool(
        impl, h, mask, f"hidden (4, 7, 5), {mask_dtype} attention_mask with padding"
    )


def test_mean_pool_scattered_mask_and_float64(impl, device):
    g = generator(2)
    mask = (torch.rand(3, 9, generator=g) < 0.5).long()
    mask[:, 4] = 1  # every row keeps a token
    h = randn((3, 9, 6), seed=3, device=device, dtype=torch.float64) + 0.5
    _check_pool(impl, h, mask.to(device), "float64 hidden (3, 9, 6), mask with holes")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_mean_pool_low_precision_keeps_dtype(impl, device, dtype):
    h = randn((4, 7, 8), seed=4, device=device, dtype=dtype)
    _check_pool(
        impl, h, _mask(MASK_ROWS, torch.int64, device), f"{dtype} hidden", scale=2
    )


def test_mean_pool_gradient(impl, device):
    h = randn((4, 7, 5), seed=5, device=device).requires_grad_()
    mask = _mask(MASK_ROWS, torch.int64, device)
    out = call(impl.mean_pool, h, mask)
    upstream = randn((4, 5), seed=6, device=device)
    (out * upstream).sum().backward()
    assert h.grad is not None, (
        "no gradient reached last_hidden_state: is the output detached?"
    )
    m = mask.double().cpu()
    want = m[..., None] / m.sum(1)[:, None, None] * upstream.double().cpu()[:, None, :]
    assert_close(
        h.grad,
        want.to(device=device, dtype=h.dtype),
        what="gradient of last_hidden_state",
    )


# -- cosine_top_k -----------------------------------------------------------------------------


def _docs(N, D, seed, device, dtype=torch.float32):
    """Documents of very different lengths: ranking by dot product differs from cosine."""
    lengths = torch.exp(torch.randn(N, 1, generator=generator(seed + 50)) * 1.5)
    return (randn((N, D), seed, dtype=torch.float64) * lengths).to(
        device=device, dtype=dtype
    )


def _cos64(query, docs):
    q, d = query.detach().cpu().double(), docs.detach().cpu().double()
    return (q / q.norm(dim=-1, keepdim=True)) @ (d / d.norm(dim=-1, keepdim=True)).T


def _score_variants(query, docs, k):
    q, d = query.detach().cpu().double(), docs.detach().cpu().double()
    qn, dn = q / q.norm(dim=-1, keepdim=True), d / d.norm(dim=-1, keepdim=True)
    cos = qn @ dn.T
    return {
        "the documents were not normalised: a plain dot product favours long documents; "
        "divide each document by its own norm (and the query by its norm)": (qn @ d.T)
        .topk(k)
        .values,
        "neither side was normalised: that is a dot product, not a cosine similarity": (
            q @ d.T
        )
        .topk(k)
        .values,
        "the documents were normalised over dim 0 (across documents): normalise each "
        "document vector, over its last dim": (qn @ (d / d.norm(dim=0, keepdim=True)).T)
        .topk(k)
        .values,
        "the k lowest scores were returned: cosine_top_k wants the k most similar, highest "
        "first (torch.topk's largest=True, or sort descending)": cos.sort(
            dim=-1
        ).values[..., :k],
        "the k best were returned in ascending order: highest first": cos.topk(
            k
        ).values.flip(-1),
    }


def _check_top_k(impl, query, docs, k, context):
    before_q, before_d = query.clone(), docs.clone()
    result = call(impl.cosine_top_k, query, docs, k)
    assert_unchanged(before_q, query, "query")
    assert_unchanged(before_d, docs, "docs")
    ok = isinstance(result, (tuple, list)) and len(result) == 2
    assert ok, (
        f"{context}: cosine_top_k must return (scores, indices), got {type(result).__name__}"
    )
    scores, indices = result
    is_index = lambda t: isinstance(t, torch.Tensor) and not t.is_floating_point()
    assert not (is_index(scores) and not is_index(indices)), (
        f"{context}: the result looks like (indices, scores); the contract is (scores, indices)"
    )
    cos = _cos64(query, docs)
    want = cos.topk(k, dim=-1).values
    atol, rtol = tolerance(query.dtype)
    if query.dtype == torch.float64:
        assert_float64_math(scores, want, "scores", context)
    assert_close_diagnosed(
        scores,
        want.to(device=query.device, dtype=query.dtype),
        lambda: _score_variants(query, docs, k),
        what="scores",
        context=context,
    )
    assert isinstance(indices, torch.Tensor) and indices.dtype == torch.int64, (
        f"{context}: indices must be an int64 tensor, got "
        f"{indices.dtype if isinstance(indices, torch.Tensor) else type(indices).__name__}"
    )
    assert indices.shape == want.shape, (
        f"{context}: indices shape expected {tuple(want.shape)}, got {tuple(indices.shape)}"
    )
    assert indices.device.type == query.device.type, (
        f"{context}: indices on {indices.device.type}, expected {query.device.type}"
    )
    idx = indices.cpu()
    assert bool(((idx >= 0) & (idx < docs.shape[0])).all()), (
        f"{context}: indices must be document rows 0..{docs.shape[0] - 1}"
    )
    rows = idx.reshape(-1, k)
    for r in range(rows.shape[0]):
        assert len(set(rows[r].tolist())) == k, (
            f"{context}: a document appears twice among the k indices {rows[r].tolist()}"
        )
    at = cos.gather(-1, idx)  # the true score of each returned document
    note = ""
    if not torch.allclose(at, want, atol=atol, rtol=rtol):
        dot = query.detach().cpu().double() @ docs.detach().cpu().double().T
        if torch.equal(idx, dot.topk(k, dim=-1).indices):
            note = (
                "\nlikely bug: the indices are those of the dot-product ranking: rank by the "
                "normalised scores"
            )
        raise AssertionError(
            f"{context}: the indices do not point at the documents with the returned scores "
            f"(true scores of the returned documents: {at.flatten()[:6].tolist()}, "
            f"best scores: {want.flatten()[:6].tolist()}){note}"
        )


@pytest.mark.parametrize("k", [1, 5, 40])
def test_cosine_top_k_one_query(impl, device, k):
    docs = _docs(40, 16, seed=10, device=device)
    query = randn((16,), seed=11, device=device, scale=3)
    _check_top_k(impl, query, docs, k, f"query (16,), docs (40, 16), k={k}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cosine_top_k_batched_queries(impl, device, dtype):
    docs = _docs(30, 8, seed=12, device=device, dtype=dtype)
    query = randn((3, 8), seed=13, device=device, dtype=dtype, scale=0.2)
    _check_top_k(impl, query, docs, 4, f"{dtype} queries (3, 8), docs (30, 8), k=4")


def test_cosine_top_k_ties_any_order(impl, device):
    # Documents 1 and 3 are the query times two positive lengths: both have score 1.
    query = randn((6,), seed=14, device=device)
    docs = _docs(8, 6, seed=15, device=device)
    docs[1], docs[3] = query * 0.5, query * 4.0
    _check_top_k(
        impl, query, docs, 3, "two documents parallel to the query (a tie at 1)"
    )


# -- chunk_text -------------------------------------------------------------------------------


def _chunks(text, size, overlap, mode="right"):
    step = {"right": size - overlap, "no_overlap": size, "plus": size + overlap}.get(
        mode, size - overlap
    )
    if mode == "keep_going":
        return [text[s : s + size] for s in range(0, len(text), step)]
    if mode == "drop_tail":
        return [
            text[s : s + size]
            for s in range(0, max(len(text) - size, 0) + 1, step)
            if text
        ]
    out = []
    for s in range(0, len(text), step):
        out.append(text[s : s + size])
        if s + size >= len(text):
            break
    return out


CHUNK_MISTAKES = [
    (
        (
            "chunking went on after a chunk reached the end of the text: the last chunk(s) "
            "only repeat its tail; stop after the first chunk that reaches the end"
        ),
        "keep_going",
    ),
    (
        (
            "the end of the text is missing: the last, shorter chunk was dropped; keep going until "
            "a chunk reaches the end"
        ),
        "drop_tail",
    ),
    (
        "the overlap was ignored: consecutive chunks start chunk_size - overlap apart",
        "no_overlap",
    ),
    (
        "chunks start chunk_size + overlap apart: the step is chunk_size - overlap",
        "plus",
    ),
]

TEXT = "Retrieval-augmented generation splits documents into chunks. "
CHUNK_CASES = [
    (TEXT, 10, 3),
    (TEXT, 16, 0),
    (TEXT, 20, 19),
    (TEXT[:30], 10, 5),  # the last full chunk ends exactly at the end
    (TEXT[:31], 10, 5),
    ("short", 10, 2),
    ("exactly10!", 10, 4),
    ("naïve 東京 😀👍🏽 café ☕ déjà vu", 6, 2),
    ("ab", 1, 0),
]


@pytest.mark.parametrize(
    "case", CHUNK_CASES, ids=lambda c: f"len{len(c[0])}-size{c[1]}-overlap{c[2]}"
)
def test_chunk_text(impl, case):
    text, size, overlap = case
    context = f"chunk_text(text of {len(text)} characters, chunk_size={size}, overlap={overlap})"
    got = call(impl.chunk_text, text, size, overlap)
    want = _chunks(text, size, overlap)
    assert isinstance(got, list), (
        f"{context}: expected a list of str, got {type(got).__name__}"
    )
    if got == want:
        return
    note = "".join(
        f"\nlikely bug: {why}"
        for why, mode in CHUNK_MISTAKES
        if got == _chunks(text, size, overlap, mode) != want
    )
    if not note and got == [
        c.decode("utf-8", "replace") for c in _chunks(text.encode(), size, overlap)
    ]:
        note = "\nlikely bug: chunks were cut from the UTF-8 bytes: count characters (str slicing)"
    n = next(
        (i for i, (a, b) in enumerate(zip(got, want)) if a != b),
        min(len(got), len(want)),
    )
    shown = lambda chunks: [
        c[:24] + ("..." if len(c) > 24 else "") for c in chunks[n : n + 2]
    ]
    raise AssertionError(
        f"{context}: expected {len(want)} chunks, got {len(got)}; the first {n} are right"
        f"{note}\nfrom chunk {n} on: expected {shown(want)}, got {shown(got)}"
    )


def test_chunk_text_empty(impl):
    got = call(impl.chunk_text, "", 8, 2)
    assert got == [], f'chunk_text("", 8, 2): expected [] (no chunks), got {got!r}'


class _TooSlow(Exception):
    pass


def test_chunk_text_rejects_overlap_out_of_range(impl):
    def stop(signum, frame):
        raise _TooSlow

    for size, overlap in ((4, 4), (4, 6), (4, -1)):
        context = f"chunk_text(text, chunk_size={size}, overlap={overlap})"
        old = signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        try:
            call(impl.chunk_text, TEXT, size, overlap)
        except ValueError:
            continue
        except _TooSlow:
            raise AssertionError(
                f"{context} did not return within a second (the step chunk_size - overlap is "
                "not positive): raise ValueError when overlap >= chunk_size"
            ) from None
        except Exception as exc:  # noqa: BLE001 - any other error is the wrong one
            raise AssertionError(
                f"{context} raised {type(exc).__name__}: expected ValueError (overlap must "
                "be 0 <= overlap < chunk_size)"
            ) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        raise AssertionError(
            f"{context}: expected ValueError (overlap must be 0 <= overlap < chunk_size)"
        )


def test_chunks_rebuild_the_text(impl):
    text = TEXT * 3
    got = call(impl.chunk_text, text, 25, 7)
    rebuilt = got[0] + "".join(c[7:] for c in got[1:]) if got else ""
    assert rebuilt == text, (
        "chunk_text(text, 25, 7): the first chunk plus every later chunk without its first 7 "
        "characters must give the text back"
    )
