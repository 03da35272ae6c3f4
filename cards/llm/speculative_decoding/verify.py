"""Verifier for speculative decoding.

- Temperature 0: the output must equal the target's greedy decoding token for token, on table
  models (fast, no ties) and on a tiny random LlamaForCausalLM checked against its own
  `generate`; drafts that agree with the target often, never, or always.
- Target calls are counted by a wrapper: draft == target must take ceil(n / (k + 1)) calls,
  the first one doubling as the prefill, and `target_calls` must be what the wrapper saw.
- Temperature > 0: the joint distribution of the new tokens must be the target's, by a
  chi-square test (false-reject rate below 1e-7 a test) on second-order Markov "table models"
  over 4 tokens, where the exact output distribution is enumerable. A failing histogram is
  compared with the exact distributions of known mistakes (ratio upside down, residual not
  max(p - q, 0), bonus not sampled from the target, ...) to name the one it matches.

On failure the messages name the classic mistakes: the target's rows read one position late, a
separate prefill call, no bonus token, extra tokens not truncated.
"""

import functools
import math
import warnings
from types import SimpleNamespace

import pytest
import torch

from cards.checks import assert_unchanged, call, generator

# -- test models --------------------------------------------------------------------------------


class TableLM(torch.nn.Module):
    """A second-order Markov model: the logits at position j are table[token j-1, token j]
    (token -1 counts as 0). Exact, cheap, the same whatever length it is called on."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, input_ids, attention_mask=None, **kwargs):
        prev = torch.cat([torch.zeros_like(input_ids[:, :1]), input_ids[:, :-1]], dim=1)
        return SimpleNamespace(logits=self.table[prev, input_ids])


class NoisyLM(torch.nn.Module):
    """Another model's logits plus a fixed noise per absolute position: a draft that agrees
    with it part of the time."""

    def __init__(self, model, noise: torch.Tensor):
        super().__init__()
        self.inner = model
        self.register_buffer("noise", noise)  # (max_len, V)

    def forward(self, input_ids, attention_mask=None, **kwargs):
        logits = self.inner(input_ids).logits
        return SimpleNamespace(logits=logits + self.noise[: input_ids.shape[1]])


class Counted(torch.nn.Module):
    """What the attempt receives: checks each call's input and records its length."""

    def __init__(self, model, name: str):
        super().__init__()
        self.wrapped = model
        self.name = name
        self.lengths: list[int] = []

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        if kwargs.get("past_key_values") is not None:
            raise AssertionError(
                f"the {self.name} was called with past_key_values: this card's models are "
                "called on the whole sequence, model(ids).logits, without a KV cache"
            )
        ok = (
            isinstance(input_ids, torch.Tensor)
            and input_ids.dim() == 2
            and input_ids.shape[0] == 1
            and input_ids.dtype == torch.long
        )
        if not ok:
            got = (
                f"{tuple(input_ids.shape)} {input_ids.dtype}"
                if isinstance(input_ids, torch.Tensor)
                else type(input_ids).__name__
            )
            raise AssertionError(
                f"the {self.name} must be called with a LongTensor of token ids of shape "
                f"(1, L), got {got}"
            )
        self.lengths.append(input_ids.shape[1])
        with torch.no_grad():
            out = self.wrapped(input_ids)
        return SimpleNamespace(logits=out.logits)


def _table(V, seed, scale, device, base=None, noise=1.0):
    g = generator(seed)
    t = torch.randn(V, V, V, generator=g, dtype=torch.float64) * scale
    if base is not None:
        t = base.to("cpu", torch.float64) + noise * t
    return t.to(device=device, dtype=torch.float32)


@functools.cache
def _llama(device: str):
    """A tiny random Llama whose greedy path (for the prompt of the test) has clear argmaxes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            vocab_size=32,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=64,
            initializer_range=0.5,
            eos_token_id=None,
            bos_token_id=None,
            pad_token_id=None,
            attn_implementation="eager",
        )
        torch.manual_seed(0)
        return LlamaForCausalLM(config).eval().to(device)


# -- running the attempt and checking the output ------------------------------------------------


def _run(impl, target, draft, prompt, n, k, temperature=0.0, gen=None, context=""):
    """(new tokens as a list, reported target_calls, calls the target wrapper saw)."""
    t, d = Counted(target, "target"), Counted(draft, "draft")
    before = prompt.clone()
    result = call(
        impl.speculative_decode,
        t,
        d,
        prompt,
        n,
        num_draft_tokens=k,
        temperature=temperature,
        generator=gen,
        what="speculative_decode",
    )
    assert_unchanged(before, prompt, "input_ids")
    ok = isinstance(result, (tuple, list)) and len(result) == 2
    assert ok, (
        f"speculative_decode must return (output_ids, target_calls) [{context}], got "
        f"{type(result).__name__}"
    )
    out, calls = result
    T = prompt.shape[1]
    assert isinstance(out, torch.Tensor), (
        f"output_ids [{context}]: expected a LongTensor, got {type(out).__name__}"
    )
    assert out.dtype == torch.long, (
        f"output_ids [{context}]: dtype expected torch.int64, got {out.dtype}"
    )
    assert out.device.type == prompt.device.type, (
        f"output_ids [{context}]: device expected {prompt.device.type}, got {out.device.type}"
    )
    assert out.dim() == 2 and out.shape[0] == 1, (
        f"output_ids [{context}]: expected shape (1, {T + n}) = (1, prompt + max_new_tokens), "
        f"got {tuple(out.shape)}"
    )
    got_new = out.shape[1] - T
    if got_new > n:
        raise AssertionError(
            f"output_ids [{context}]: {got_new} new tokens for max_new_tokens={n}: the last "
            "round accepted more tokens than were still needed; truncate the output to exactly "
            "max_new_tokens new tokens"
        )
    assert got_new == n, (
        f"output_ids [{context}]: {got_new} new tokens, expected exactly max_new_tokens={n} "
        f"(shape (1, {T + n}))"
    )
    assert torch.equal(out[:, :T].cpu(), prompt.cpu()), (
        f"output_ids [{context}]: the output must start with the prompt, input_ids unchanged"
    )
    if isinstance(calls, torch.Tensor) and calls.numel() == 1:
        calls = calls.item()
    assert isinstance(calls, int) and not isinstance(calls, bool), (
        f"target_calls [{context}]: expected an int, got {type(calls).__name__}"
    )
    return out[0, T:].tolist(), calls, t.lengths


def _argmax_decode(model, prompt, n):
    """Plain greedy decoding, recomputing the whole sequence each step."""
    ids = prompt
    with torch.no_grad():
        for _ in range(n):
            nxt = model(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    return ids[0, prompt.shape[1] :].tolist()


def _greedy_variant(target, draft, prompt, n, k, bug):
    """Greedy speculative decoding with a known mistake, to name the one an output matches."""
    ids, T = prompt, prompt.shape[1]
    with torch.no_grad():
        for _ in range(4 * n + 4):
            if ids.shape[1] - T >= n:
                break
            start, seq = ids.shape[1], ids
            for _ in range(k):
                nxt = draft(seq).logits[:, -1].argmax(-1, keepdim=True)
                seq = torch.cat([seq, nxt], dim=1)
            proposed = seq[0, start:]
            first = start if bug == "late" else start - 1
            best = target(seq).logits[0, first:].argmax(-1)
            m = 0
            while m < k and m < len(best) and proposed[m] == best[m]:
                m += 1
            if bug == "accept_all":
                new = proposed
            elif bug == "keep_mismatch" and m < k:
                new = proposed[: m + 1]
            else:
                new = torch.cat([proposed[:m], best[m : m + 1]])
            ids = torch.cat([ids, new.view(1, -1)], dim=1)
    return ids[0, T : T + n].tolist()


GREEDY_BUGS = {
    "late": "the proposals are judged by the target's logits one position too late: the "
    "logits at position j predict token j + 1, so the k proposals starting at position s "
    "are checked against rows s - 1 ... s + k - 2 (and row s + k - 1 gives the bonus token)",
    "keep_mismatch": "the first rejected proposal is kept (off by one in the accepted "
    "count): keep the matching proposals, then the target's own token in place of the "
    "first mismatch",
    "accept_all": "the draft's proposals are accepted without being checked against the "
    "target's argmax",
}


def _check_greedy(impl, target, draft, prompt, n, k, expected, context):
    got, calls, lengths = _run(impl, target, draft, prompt, n, k, context=context)
    if got == expected:
        return calls, lengths
    first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    message = (
        f"temperature 0 [{context}]: the output must equal the target's greedy decoding; "
        f"first difference at new token {first}: got {got[first]}, greedy gives "
        f"{expected[first]}\n  got:    {got}\n  greedy: {expected}"
    )
    found = [
        why
        for bug, why in GREEDY_BUGS.items()
        if _greedy_variant(target, draft, prompt, n, k, bug) == got
    ]
    if got == _argmax_decode(draft, prompt, n):
        found.append(
            "the output is the draft's greedy decoding: the target never overrules it"
        )
    if found:
        message += "\nlikely bug (the output matches this mistake): " + "; or ".join(
            found
        )
    raise AssertionError(message)


def _prompt(tokens, device):
    return torch.tensor([tokens], dtype=torch.long, device=device)


# -- temperature 0 ------------------------------------------------------------------------------

V_GREEDY = 16
GREEDY_CASES = [(12, 4), (10, 3), (9, 1), (7, 2), (1, 4), (5, 8)]  # (max_new_tokens, k)
DRAFTS = {
    "noisy draft": {"noise": 0.4},  # agrees with the target about 40% of the time
    "unrelated draft": {"noise": None},  # almost never agrees
}


@pytest.mark.parametrize("draft_kind", list(DRAFTS))
@pytest.mark.parametrize(
    "n,k", GREEDY_CASES, ids=[f"n{n}-k{k}" for n, k in GREEDY_CASES]
)
def test_greedy_equals_target_greedy(impl, device, draft_kind, n, k):
    target_table = _table(V_GREEDY, 1, 2.0, device)
    noise = DRAFTS[draft_kind]["noise"]
    if noise is None:
        draft_table = _table(V_GREEDY, 2, 2.0, device)
    else:
        draft_table = _table(V_GREEDY, 3, 2.0, device, base=target_table, noise=noise)
    target, draft = TableLM(target_table), TableLM(draft_table)
    prompt = _prompt([3, 9, 14, 2], device)
    expected = _argmax_decode(target, prompt, n)
    context = f"{draft_kind}, max_new_tokens={n}, num_draft_tokens={k}"
    _check_greedy(impl, target, draft, prompt, n, k, expected, context)


def test_greedy_llama_equals_generate(impl, device):
    llama = _llama(device)
    V = llama.config.vocab_size
    noise = torch.randn(64, V, generator=generator(5))  # agrees about half the time
    draft = NoisyLM(llama, noise.to(device))
    prompt = _prompt([5, 17, 2, 28, 11], device)
    n = 10
    with torch.no_grad():
        generated = llama.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=n,
            do_sample=False,
        )
    expected = generated[0, prompt.shape[1] :].tolist()
    assert expected == _argmax_decode(llama, prompt, n), (
        "verifier setup: near-tie in Llama"
    )
    context = "tiny LlamaForCausalLM target, noisy draft, max_new_tokens=10, num_draft_tokens=3"
    _check_greedy(impl, llama, draft, prompt, n, 3, expected, context)


# -- target calls -------------------------------------------------------------------------------

CALL_CASES = [(20, 1), (12, 4), (7, 3), (5, 2), (1, 4)]


def _check_calls(reported, lengths, n, k, T, context):
    counted = len(lengths)
    want = math.ceil(n / (k + 1))
    head = (
        f"target calls [{context}]: with draft == target every proposal is accepted, so each "
        f"target call yields k + 1 = {k + 1} tokens and {n} tokens take ceil({n}/{k + 1}) = "
        f"{want} calls"
    )
    if counted == want + 1 and lengths and lengths[0] == T:
        raise AssertionError(
            f"{head}; the target was called {counted} times, the first on the prompt alone "
            f"(length {T}): a separate prefill call; the first verification call runs the "
            "prompt and the proposals together and is the prefill"
        )
    if counted == math.ceil(n / k) and counted != want:
        raise AssertionError(
            f"{head}; the target was called {counted} = ceil({n}/{k}) times: no bonus token; "
            "when all k proposals are accepted, the target's last row (after the last "
            "proposal) gives one more token for free"
        )
    assert counted == want, f"{head}; the target was called {counted} times"
    if reported == counted + 1:
        raise AssertionError(
            f"target_calls [{context}]: returned {reported}, but the target was called "
            f"{counted} times: a prefill is counted that was never a separate call"
        )
    assert reported == counted, (
        f"target_calls [{context}]: returned {reported}, but the target was called {counted} times"
    )


@pytest.mark.parametrize("n,k", CALL_CASES, ids=[f"n{n}-k{k}" for n, k in CALL_CASES])
def test_draft_equal_to_target_calls_target_once_per_k_plus_1(impl, device, n, k):
    model = TableLM(_table(V_GREEDY, 1, 2.0, device))
    prompt = _prompt([3, 9, 14], device)
    context = (
        f"temperature 0, draft == target, max_new_tokens={n}, num_draft_tokens={k}"
    )
    expected = _argmax_decode(model, prompt, n)
    _, calls, lengths = _run(impl, model, model, prompt, n, k, context=context)
    _check_calls(calls, lengths, n, k, prompt.shape[1], context)
    # The same counted run once more, checking the tokens too.
    _check_greedy(impl, model, model, prompt, n, k, expected, context)


@pytest.mark.parametrize("n,k", [(11, 2), (8, 4)], ids=["n11-k2", "n8-k4"])
def test_draft_equal_to_target_sampled_calls(impl, device, n, k):
    # p == q exactly (the table model gives the same logits whatever the call's length), so
    # min(1, p/q) = 1: every proposal is accepted at temperature 1 too.
    model = TableLM(_table(V_SAMPLE, 7, 1.0, device))
    prompt = _prompt([1, 2], device)
    context = (
        f"temperature 1, draft == target, max_new_tokens={n}, num_draft_tokens={k}"
    )
    _, calls, lengths = _run(
        impl, model, model, prompt, n, k, 1.0, generator(3, device), context
    )
    _check_calls(calls, lengths, n, k, prompt.shape[1], context)


# -- temperature > 0: the output distribution ---------------------------------------------------

V_SAMPLE = 4
ALPHA = 1e-7  # per chi-square test: a correct attempt fails one less than once in 10 million


def _softmax(row, temperature):
    return torch.softmax(row.double() / temperature, dim=-1)


def _rules(temperature):
    """{mistake in the user's words (None: correct): rule}, a rule giving the acceptance
    probability, the residual and the bonus distributions, and the target's temperature."""
    norm = lambda v: v / v.sum()
    ratio = lambda p, q, x: min(1.0, float(p[x] / q[x]))
    residual = lambda p, q: norm((p - q).clamp(min=0))
    bonus = lambda p, q: p
    base = {
        "accept": ratio,
        "residual": residual,
        "bonus": bonus,
        "target_t": temperature,
    }
    rules = {None: base}

    def variant(why, **changes):
        rules[why] = {**base, **changes}

    variant(
        "the acceptance ratio is upside down: accept a proposal x with probability "
        "min(1, p(x) / q(x)), target over draft, not q(x) / p(x)",
        accept=lambda p, q, x: min(1.0, float(q[x] / p[x])),
    )
    variant(
        "after a rejection the token is resampled from the target's p: it must come from the "
        "residual max(p - q, 0), renormalised",
        residual=lambda p, q: p,
    )
    variant(
        "after a rejection the token is resampled from max(q - p, 0): the residual is the "
        "target minus the draft, max(p - q, 0)",
        residual=lambda p, q: norm((q - p).clamp(min=0)),
    )
    variant(
        "the bonus token (after every proposal is accepted) is the target's argmax: sample it "
        "from the target's last row",
        bonus=lambda p, q: torch.nn.functional.one_hot(p.argmax(), len(p)).double(),
    )
    variant(
        "the bonus token is sampled from the draft: it comes from the target's last row",
        bonus=lambda p, q: q,
    )
    variant(
        "every proposal is accepted: the output follows the draft's distribution",
        accept=lambda p, q, x: 1.0,
    )
    if temperature != 1.0:
        variant(
            "the temperature is not applied to the target's logits (p = softmax(logits / T))",
            target_t=1.0,
        )
    return rules


def _exact(target_table, draft_table, prompt, n, k, temperature, rule, shorten):
    """The exact distribution {new tokens: probability} of speculative decoding under `rule`.
    shorten: drafts min(k, tokens still needed - 1) proposals instead of k."""
    tt, dt = target_table.double().cpu(), draft_table.double().cpu()

    def dist(table, seq, t):
        return _softmax(table[seq[-2] if len(seq) > 1 else 0, seq[-1]], t)

    @functools.cache
    def finish(seq, r):  # {continuation of length r: probability}
        kk = min(k, r - 1) if shorten else k
        out = {}

        def emit(new, w):
            new = new[:r]
            if len(new) == r:
                out[new] = out.get(new, 0.0) + w
            else:
                for rest, w2 in finish(seq + new, r - len(new)).items():
                    out[new + rest] = out.get(new + rest, 0.0) + w * w2

        def propose(i, cur, w):
            p = dist(tt, cur, rule["target_t"])
            q = dist(dt, cur, temperature)
            if i == kk:
                for y, wy in enumerate(rule["bonus"](p, q).tolist()):
                    if wy > 0:
                        emit(cur[len(seq) :] + (y,), w * wy)
                return
            rejected = 0.0
            for x in range(len(q)):
                a = rule["accept"](p, q, x)
                rejected += float(q[x]) * (1 - a)
                if a > 0:
                    propose(i + 1, cur + (x,), w * float(q[x]) * a)
            if rejected > 0:
                for y, wy in enumerate(rule["residual"](p, q).tolist()):
                    if wy > 0:
                        emit(cur[len(seq) :] + (y,), w * rejected * wy)

        propose(0, seq, 1.0)
        return out

    return finish(tuple(prompt), n)


def _chi_square(counts: dict, probs: dict, N: int):
    """(statistic, degrees of freedom, p-value); cells expected below 5 are pooled."""
    stat, pooled_obs, pooled_exp, cells = 0.0, 0, 0.0, 0
    for key in set(counts) | set(probs):
        e, o = probs.get(key, 0.0) * N, counts.get(key, 0)
        if e >= 5:
            stat += (o - e) ** 2 / e
            cells += 1
        else:
            pooled_obs, pooled_exp = pooled_obs + o, pooled_exp + e
    if pooled_exp > 0:
        stat += (pooled_obs - pooled_exp) ** 2 / max(pooled_exp, 1e-12)
        cells += 1
    df = cells - 1
    p = torch.special.gammaincc(
        torch.tensor(df / 2, dtype=torch.float64),
        torch.tensor(stat / 2, dtype=torch.float64),
    ).item()
    return stat, df, p


def _sampling_tables(device):
    """Target and draft tables built so that every known mistake moves the distribution of the
    first two new tokens (prompt [2, 1], one proposal per round) far from the right one.
    Logits are T * log(probabilities): at temperature T the probabilities are as written.
    First token: the draft puts 0.97 on token 1 where the target has 0.45 (rejections often,
    a residual far from p). Second token: a spread target row (the bonus), a draft unlike it."""
    T = SAMPLE_T
    g = generator(0)
    tp = torch.randn(4, 4, 4, generator=g, dtype=torch.float64)
    tq = torch.randn(4, 4, 4, generator=g, dtype=torch.float64)
    tp[2, 1] = T * torch.tensor([0.45, 0.45, 0.05, 0.05], dtype=torch.float64).log()
    tq[2, 1] = T * torch.tensor([0.01, 0.97, 0.01, 0.01], dtype=torch.float64).log()
    for x in range(4):
        p = torch.tensor([0.3, 0.3, 0.2, 0.2], dtype=torch.float64).roll(x)
        q = torch.tensor([0.1, 0.1, 0.1, 0.7], dtype=torch.float64).roll(x)
        tp[1, x], tq[1, x] = T * p.log(), T * q.log()
    return tp.to(device, torch.float32), tq.to(device, torch.float32)


SAMPLE_T = 0.5
# 600 runs. Two chi-square tests on them, each rejecting below ALPHA: the first new token alone
# (4 cells, threshold 36) and the pair (16 cells, threshold 62). The mistake hardest to see,
# resampling from p after a rejection, moves the first token's statistic by about
# 600 * 0.22 = 130; the bonus and temperature mistakes move the pair's by 150 or more.
SAMPLE_N = 600


def _marginal(dist: dict) -> dict:
    out = {}
    for seq, w in dist.items():
        out[seq[:1]] = out.get(seq[:1], 0) + w
    return out


def _consistent(counts: dict, dist: dict, N: int, alpha: float) -> bool:
    return all(
        _chi_square(c, d, N)[2] >= alpha
        for c, d in ((counts, dist), (_marginal(counts), _marginal(dist)))
    )


# k = 2: both new tokens come from one round of two proposals, so a mistake that only shows
# from the second proposal on (one uniform for the round, the first proposal's q reused) shows
@pytest.mark.parametrize("k", [1, 2], ids=["k1", "k2"])
def test_sampled_output_follows_the_target(impl, device, k):
    n, T, N = 2, SAMPLE_T, SAMPLE_N
    target_table, draft_table = _sampling_tables(device)
    target, draft = TableLM(target_table), TableLM(draft_table)
    prompt = [2, 1]
    prompt_t = _prompt(prompt, device)
    gen = generator(100, device)
    context = f"temperature {T}, max_new_tokens={n}, num_draft_tokens={k}"
    counts = {}
    for _ in range(N):
        got, _, _ = _run(impl, target, draft, prompt_t, n, k, T, gen, context)
        counts[tuple(got)] = counts.get(tuple(got), 0) + 1
    rules = _rules(T)
    exact = _exact(target_table, draft_table, prompt, n, k, T, rules[None], False)
    if _consistent(counts, exact, N, ALPHA):
        return
    first = _chi_square(_marginal(counts), _marginal(exact), N)
    pair = _chi_square(counts, exact, N)
    message = (
        f"sampling [{context}]: over {N} seeded runs the new tokens do not follow the "
        "target's distribution softmax(logits / T): chi-square of the first token "
        f"{first[0]:.1f} (p = {first[2]:.2g}), of the pair {pair[0]:.1f} (p = {pair[2]:.2g}); "
        f"the test rejects below p = {ALPHA:g}"
    )
    found = []
    for why, rule in rules.items():
        if why is None:
            continue
        for shorten in (False, True):
            variant = _exact(target_table, draft_table, prompt, n, k, T, rule, shorten)
            if _consistent(counts, variant, N, 1e-3):
                found.append(why)
                break
    if found:
        message += "\nlikely bug (the draws match this mistake): " + "; or ".join(found)
    raise AssertionError(message)


def test_seeded_generator_gives_the_same_draws(impl, device):
    target_table = _table(V_SAMPLE, 11, 1.0, device)
    draft_table = _table(V_SAMPLE, 12, 1.0, device, base=target_table, noise=1.2)
    target, draft = TableLM(target_table), TableLM(draft_table)
    prompt = _prompt([2, 1], device)
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # a different global RNG state each time
        gen = generator(42, device)
        runs.append(
            [
                _run(impl, target, draft, prompt, 6, 2, 1.0, gen, "seeded generator")[0]
                for _ in range(5)
            ]
        )
    assert runs[0] == runs[1], (
        "the same seeded generator gave different outputs: draw every random number "
        "(proposals, acceptance tests, residual and bonus tokens) from `generator`\n"
        f"  first:  {runs[0]}\n  second: {runs[1]}"
    )
    torch.manual_seed(0)
    got, _, _ = _run(impl, target, draft, prompt, 6, 2, 1.0, None, "generator=None")
    assert all(0 <= t < V_SAMPLE for t in got), (
        f"generator=None: tokens out of range: {got}"
    )
