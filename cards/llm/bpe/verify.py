"""Verifier for byte-level BPE: against a float-free pure-Python trainer and encoder written
here from the contract (overlapping pair counts recounted after every merge, ties to the pair
that occurs first, encoding by merge rank, decoding the joined bytes with errors="replace").

A wrong merge list or encoding is compared with the outputs of the classic mistakes (counts
computed once and never refreshed, non-overlapping counts, ties by lexicographic order or to the
last pair, merges applied leftmost-first or most-frequent-first when encoding, per-token
decoding), and the mistake the attempt reproduces is named."""

import itertools
import operator

import pytest

from cards.checks import call

# -- the reference, in plain Python ---------------------------------------------------------


def _count(ids, overlap=True):
    """{pair: count} in order of first occurrence; without `overlap`, a pair that overlaps its
    own previous occurrence ("aaa": the second (a, a)) is not counted, as str.count does."""
    counts, last = {}, {}
    for i, pair in enumerate(itertools.pairwise(ids)):
        if not overlap and last.get(pair) == i - 1:
            continue
        last[pair] = i
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _train(text, vocab_size, overlap=True, tie="first", stale=False):
    """(merge list in id order, final token sequence). tie: "first" (the contract), "lex"
    (smallest pair), "last" (the tied pair that occurs last). stale: counts taken once."""
    ids, merges, counts = list(text.encode("utf-8")), [], None
    for new_id in range(256, vocab_size):
        if len(ids) < 2:
            break
        if counts is None or not stale:
            counts = _count(ids, overlap)
        if not counts:
            break
        top = max(counts.values())
        tied = [p for p, c in counts.items() if c == top]
        pair = {"first": tied[0], "lex": min(tied), "last": tied[-1]}[tie]
        if stale:
            del counts[pair]
        ids = _merge(ids, pair, new_id)
        merges.append(pair)
    return merges, ids


def _encode(text, merges, order="rank"):
    """merges: list of pairs, id 256 + index. order: "rank" (the contract), "leftmost" (the
    first mergeable pair from the left), "frequent" (the most frequent mergeable pair)."""
    rank = {p: 256 + i for i, p in enumerate(merges)}
    ids = list(text.encode("utf-8"))
    while len(ids) >= 2:
        pairs = [p for p in itertools.pairwise(ids) if p in rank]
        if not pairs:
            break
        if order == "rank":
            pair = min(pairs, key=rank.get)
        elif order == "leftmost":
            pair = pairs[0]
        else:
            counts = _count(ids)
            pair = max(pairs, key=lambda p: counts[p])
        ids = _merge(ids, pair, rank[pair])
    return ids


def _vocab(merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for i, (a, b) in enumerate(merges):
        vocab[256 + i] = vocab[a] + vocab[b]
    return vocab


def _decode(ids, merges):
    vocab = _vocab(merges)
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


# -- texts ----------------------------------------------------------------------------------

PROSE = (
    "the cat sat on the mat; the cat ate the rat. that hat is the cat's hat, and the mat is "
    "flat. aaaa bbbb aaaaaa abab abab zyzy ababab. naïve café déjà vu, café crème, "
    "東京と京都, 東京へ. emoji 😀😀 and 👍🏽 too. the end, the end, the end.\n"
)
RUNS = "aaaaaaaaab aaab aab ab xyxyxyxy xyx yyyy zzzzz zz " * 3
TIES = "zyzyababqpqpcdcd mnmn zyab qpcd"
CASES = [
    ("prose", PROSE, 300),
    ("runs of repeated bytes", RUNS, 280),
    ("tied pair counts", TIES, 270),
    ("mixed", "low lower lowest newer newest wider 🙂🙂🙂 " * 4 + RUNS[:60], 290),
]
CASE_IDS = [c[0] for c in CASES]

UNSEEN = [
    "",
    "a",
    " ",
    "the cat",
    "hello, world!",
    "Zürich — ∑ λ ≠ π",
    "日本語のテキスト",
    "emoji 🤖🧠 family 👨‍👩‍👧 flag 🇯🇵",
    "e\u0301 combining, \x00 nul, \t tab\r\nnewline",
    "the the the aaaaaaa xyxyx 😀😀😀",
    "\U0010ffff \ud7ff \ue000",
]


def _show(pair, merges):
    vocab = _vocab(merges)
    text = b"".join(vocab.get(i, b"?") for i in pair).decode("utf-8", "replace")
    return f"{tuple(pair)} {text!r}"


def _prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# -- reading the attempt --------------------------------------------------------------------


def _merge_list(tok, context):
    merges = getattr(tok, "merges", None)
    assert isinstance(merges, dict), (
        f"{context}: `merges` must be a dict {{(left id, right id): new id}}, got "
        f"{type(merges).__name__}"
    )
    by_id = {}
    for key, value in merges.items():
        ok = isinstance(key, tuple) and len(key) == 2
        assert ok, (
            f"{context}: merges keys must be (left id, right id) tuples, got {key!r}"
        )
        try:
            key, value = (
                (operator.index(key[0]), operator.index(key[1])),
                operator.index(value),
            )
        except TypeError:
            raise AssertionError(
                f"{context}: merges must map pairs of int ids to int ids, got {key!r}: {value!r}"
            ) from None
        assert value not in by_id, f"{context}: new id {value} is used by two merges"
        by_id[value] = key
    ids = sorted(by_id)
    assert ids == list(range(256, 256 + len(ids))), (
        f"{context}: new ids must be 256, 257, ... in merge order with no gaps; got "
        f"{ids[:8]}{'...' if len(ids) > 8 else ''}"
    )
    return [by_id[i] for i in ids]


def _id_list(result, context):
    assert isinstance(result, list), (
        f"{context}: encode must return a list of ints, got {type(result).__name__}"
    )
    try:
        return [operator.index(i) for i in result]
    except TypeError:
        raise AssertionError(
            f"{context}: encode must return ints, got {result[:5]!r}"
        ) from None


def _trained(impl, text, vocab_size, context):
    tok = call(impl.BPETokenizer)
    call(tok.train, text, vocab_size, what="BPETokenizer.train")
    return tok, _merge_list(tok, context)


TRAIN_MISTAKES = [
    (
        (
            "pair counts were taken once and never refreshed (a stale count): after each merge, "
            "count the pairs of the new token sequence again"
        ),
        {"stale": True},
    ),
    (
        (
            'pair counts skip overlapping occurrences ("aaa" counted one (a, a), not two): count '
            "every adjacent pair, zip(ids, ids[1:])"
        ),
        {"overlap": False},
    ),
    (
        (
            "ties went to the lexicographically smallest pair: among pairs with the same count, "
            "take the one that occurs first in the current token sequence"
        ),
        {"tie": "lex"},
    ),
    (
        (
            "ties went to the pair that occurs last (a `>=` comparison?): among pairs with the same "
            "count, take the one that occurs first in the current token sequence"
        ),
        {"tie": "last"},
    ),
]


def _train_diagnosis(got, text, vocab_size, expected):
    """Words naming the mistakes whose merge list agrees with `got` longer than the right one."""
    right = _prefix(got, expected)
    best, found = right, []
    for why, options in TRAIN_MISTAKES:
        wrong, _ = _train(text, vocab_size, **options)
        if wrong == expected:
            continue
        n = _prefix(got, wrong)
        if n > best:
            best, found = n, [why]
        elif n == best and n > right:
            found.append(why)
    return "".join(f"\nlikely bug: {why}" for why in found)


# -- tests ----------------------------------------------------------------------------------


def _decode_call(tok, ids, context):
    try:
        text = call(tok.decode, ids, what="BPETokenizer.decode")
    except UnicodeDecodeError as exc:
        raise AssertionError(
            f"{context}: decode raised UnicodeDecodeError ({exc.reason}): a token, or a "
            "sequence of ids, may hold part of a multi-byte character; join the bytes of all "
            'the tokens first, then decode once with errors="replace"'
        ) from None
    assert isinstance(text, str), (
        f"{context}: decode must return a str, got {type(text).__name__}"
    )
    return text


def _check_decode(tok, ids, merges, context):
    got = _decode_call(tok, ids, context)
    want = _decode(ids, merges)
    if got == want:
        return
    vocab = _vocab(merges)
    note = ""
    per_token = "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)
    if got == per_token:
        note = (
            "\nlikely bug: each token was decoded on its own: a token may hold part of a "
            'multi-byte character; join the bytes of all the tokens, then decode once with errors="replace"'
        )
    elif got == b"".join(vocab[i] for i in ids).decode("utf-8", errors="ignore"):
        note = '\nlikely bug: errors="ignore" drops invalid bytes; use errors="replace"'
    raise AssertionError(
        f"{context}: decode({ids[:12]}...) gave {got!r}, expected {want!r}{note}"
    )


def test_new_tokenizer_is_plain_bytes(impl):
    tok = call(impl.BPETokenizer)
    assert _merge_list(tok, "a new BPETokenizer()") == [], (
        "a new BPETokenizer() must have no merges: merges == {}"
    )
    for text in ("hello", "héllo 😀", ""):
        ids = _id_list(call(tok.encode, text), f"encode({text!r}) before training")
        assert ids == list(text.encode("utf-8")), (
            f"encode({text!r}) before training: expected the UTF-8 bytes "
            f"{list(text.encode('utf-8'))}, got {ids}"
        )
        _check_decode(tok, ids, [], f"decode of {text!r}'s bytes before training")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_train_learns_the_merges_in_order(impl, case):
    name, text, vocab_size = case
    context = f"train on the {name} text ({len(text.encode())} bytes), vocab_size={vocab_size}"
    _, got = _trained(impl, text, vocab_size, context)
    expected, _ = _train(text, vocab_size)
    if got == expected:
        return
    n = _prefix(got, expected)
    if n == min(len(got), len(expected)):
        raise AssertionError(
            f"{context}: expected {len(expected)} merges (new ids 256..{255 + len(expected)}), "
            f"got {len(got)}; the first {n} are right"
        )
    raise AssertionError(
        f"{context}: merge {n} (new id {256 + n}) should be {_show(expected[n], expected)}, "
        f"got {_show(got[n], got)}; the first {n} merges are right"
        + _train_diagnosis(got, text, vocab_size, expected)
    )


@pytest.mark.parametrize(
    "text, vocab_size, expected",
    [
        ("", 300, []),
        ("a", 300, []),
        ("ab", 300, [(97, 98)]),
        ("abcd", 300, [(97, 98), (256, 99), (257, 100)]),
        ("aaaa", 300, [(97, 97), (256, 256)]),
        ("abab", 256, []),
        ("abab", 200, []),
    ],
)
def test_train_stops_at_vocab_size_or_one_token(impl, text, vocab_size, expected):
    context = f"train({text!r}, vocab_size={vocab_size})"
    _, got = _trained(impl, text, vocab_size, context)
    shown = {p: 256 + i for i, p in enumerate(expected)}
    assert got == expected, (
        f"{context}: merges should be {shown}, got { {p: 256 + i for i, p in enumerate(got)} } "
        "(merge until vocab_size is reached or the text is one token; a pair seen once still "
        "merges; vocab_size <= 256 means no merges)"
    )


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_encode_reproduces_the_training_tokens(impl, case):
    name, text, vocab_size = case
    context = f"encode of the {name} text after training on it"
    tok, got_merges = _trained(impl, text, vocab_size, context)
    expected_merges, tokens = _train(text, vocab_size)
    if got_merges != expected_merges:
        pytest.skip(
            "the merges are wrong: test_train_learns_the_merges_in_order says why"
        )
    _check_encode(tok, text, expected_merges, tokens, context)


def _check_encode(tok, text, merges, want, context):
    got = _id_list(call(tok.encode, text, what="BPETokenizer.encode"), context)
    if got == want:
        return
    n = _prefix(got, want)
    note = ""
    for order, why in (
        (
            "leftmost",
            (
                "encode merged the leftmost mergeable pair first: apply the merges by rank, the "
                "pair with the lowest new id first, as training learned them"
            ),
        ),
        (
            "frequent",
            (
                "encode merged the most frequent pair of the input first: apply the merges by "
                "rank, the pair with the lowest new id first"
            ),
        ),
    ):
        if got == _encode(text, merges, order):
            note = f"\nlikely bug: {why}"
            break
    raise AssertionError(
        f"{context}: {len(want)} tokens expected, got {len(got)}; the first difference is at "
        f"position {n}: expected {want[n : n + 6]}, got {got[n : n + 6]}{note}"
    )


@pytest.mark.parametrize("case", CASES[:2], ids=CASE_IDS[:2])
def test_encode_unseen_text_by_merge_rank(impl, case):
    name, train_text, vocab_size = case
    tok, got_merges = _trained(
        impl, train_text, vocab_size, f"train on the {name} text"
    )
    merges, _ = _train(train_text, vocab_size)
    if got_merges != merges:
        pytest.skip(
            "the merges are wrong: test_train_learns_the_merges_in_order says why"
        )
    for text in UNSEEN + ["xyxyx xyx xy aaab baaa abab", "cat hat mat that the rat"]:
        context = f"encode({text!r}) after training on the {name} text"
        _check_encode(tok, text, merges, _encode(text, merges), context)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_decode_encode_round_trip(impl, case):
    name, train_text, vocab_size = case
    tok, _ = _trained(impl, train_text, vocab_size, f"train on the {name} text")
    for text in UNSEEN + [train_text, train_text[::-1]]:
        context = f"decode(encode({text[:40]!r})) after training on the {name} text"
        ids = _id_list(call(tok.encode, text, what="BPETokenizer.encode"), context)
        back = _decode_call(tok, ids, context)
        assert back == text, f"{context}: got {back!r}, expected the text back"


@pytest.mark.parametrize("case", CASES[:1] + CASES[3:], ids=CASE_IDS[:1] + CASE_IDS[3:])
def test_decode_any_ids_with_replacement(impl, case):
    name, train_text, vocab_size = case
    tok, got_merges = _trained(
        impl, train_text, vocab_size, f"train on the {name} text"
    )
    merges, _ = _train(train_text, vocab_size)
    if got_merges != merges:
        pytest.skip(
            "the merges are wrong: test_train_learns_the_merges_in_order says why"
        )
    smile = list("😀".encode())
    samples = [
        smile,  # one character over four byte tokens
        smile[:3],  # a character cut short
        [0xFF, 104, 105],  # a byte that is never valid UTF-8
        smile[1:] + [104],  # continuation bytes without their lead byte
        list(range(256, vocab_size)),  # every learned token, in order
        list(range(vocab_size - 1, 255, -1)),  # and backwards
    ]
    for ids in samples:
        _check_decode(tok, ids, merges, f"decode after training on the {name} text")
