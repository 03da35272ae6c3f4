"""Verifier for continuous batching.

The attempt's model is a wrapper that records every call (batch size, padding, mask) around
either a "bag" model (fast; sensitive to padding that is not masked) or a tiny random
LlamaForCausalLM. Checked:
- every request's output is its prompt plus the target's greedy tokens, computed one request at
  a time (and, for Llama, by its own `generate`), in the input's layout;
- which step each request finishes in: waiting requests join, first in first out, at the start
  of the first step with a free slot, and each step gives every running request one token;
- `max_batch_size` caps every model call, and batching takes fewer calls than one request after
  another; `step()` and `run()` return only what finished during them.

Wrong tokens are explained by replaying the same schedule with known mistakes (left padding
without an attention mask, right padding read at the last column).
"""

import functools
import warnings
from types import SimpleNamespace

import pytest
import torch

from cards.checks import assert_unchanged, call, generator

V = 64


class BagLM(torch.nn.Module):
    """logits_j = tanh(sum of E[x_i] over the visible tokens i <= j + F[x_j]) @ W: no positions,
    so left and right padding are alike, but an unmasked padding token changes the sum."""

    def __init__(self, seed=0, d=16):
        super().__init__()
        g = generator(seed)
        self.register_buffer("E", torch.randn(V, d, generator=g) * 0.6)
        self.register_buffer("F", torch.randn(V, d, generator=g) * 0.6)
        self.register_buffer("W", torch.randn(d, V, generator=g) * 3.0)

    def forward(self, input_ids, attention_mask=None, **kwargs):
        m = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        h = torch.cumsum(self.E[input_ids] * m[..., None].to(self.E.dtype), dim=1)
        return SimpleNamespace(logits=torch.tanh(h + self.F[input_ids]) @ self.W)


class Recorded(torch.nn.Module):
    """What the attempt receives: checks and records every call."""

    def __init__(self, model):
        super().__init__()
        self.wrapped = model
        self.calls = []  # per call: (input_ids, attention_mask or None) on the CPU

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        if kwargs.get("past_key_values") is not None:
            raise AssertionError(
                "the model was called with past_key_values: this card recomputes the whole "
                "padded batch each step, model(input_ids, attention_mask=...), with no cache"
            )
        ok = (
            isinstance(input_ids, torch.Tensor)
            and input_ids.dim() == 2
            and input_ids.dtype == torch.long
        )
        if not ok:
            got = (
                f"{tuple(input_ids.shape)} {input_ids.dtype}"
                if isinstance(input_ids, torch.Tensor)
                else type(input_ids).__name__
            )
            raise AssertionError(
                "the model must be called with a LongTensor of token ids of shape "
                f"(batch, length), got {got}"
            )
        if attention_mask is not None:
            assert (
                isinstance(attention_mask, torch.Tensor)
                and attention_mask.shape == input_ids.shape
            ), (
                "attention_mask must be a tensor of the shape of input_ids (1 for real tokens, "
                "0 for padding)"
            )
            attention_mask = (attention_mask != 0).long()
        self.calls.append(
            (
                input_ids.detach().cpu(),
                None if attention_mask is None else attention_mask.cpu(),
            )
        )
        kwargs.pop("use_cache", None)
        with torch.no_grad():
            out = self.wrapped(input_ids, attention_mask=attention_mask, **kwargs)
        return SimpleNamespace(logits=out.logits)


@functools.cache
def _llama(device: str):
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
            initializer_range=1.0,
            eos_token_id=None,
            bos_token_id=None,
            pad_token_id=None,
            attn_implementation="eager",
        )
        torch.manual_seed(1)
        return LlamaForCausalLM(config).eval().to(device)


def _greedy(model, tokens, n):
    """Unbatched greedy decoding of one request: a list of n tokens."""
    ids = torch.tensor([tokens], device=model_device(model))
    with torch.no_grad():
        for _ in range(n):
            nxt = model(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    return ids[0, len(tokens) :].tolist()


def model_device(model):
    return next(iter(model.buffers()), next(model.parameters(), None)).device


def _prompt(tokens, two_d, device):
    t = torch.tensor(tokens, dtype=torch.long, device=device)
    return t.view(1, -1) if two_d else t


# -- checking outputs ---------------------------------------------------------------------------


def _check_output(rid, out, prompt, n, expected_new, context):
    T = prompt.shape[-1]
    want_shape = (1, T + n) if prompt.dim() == 2 else (T + n,)
    layout = "(1, T) in, (1, T + n) out" if prompt.dim() == 2 else "1-D in, 1-D out"
    assert isinstance(out, torch.Tensor), (
        f"request {rid!r} [{context}]: expected a LongTensor, got {type(out).__name__}"
    )
    if tuple(out.shape) != want_shape:
        extra = ""
        if out.numel() == n:
            extra = ": the output holds only the new tokens; return the prompt followed by them"
        elif out.numel() == T + n:
            extra = f": keep the input's layout ({layout})"
        elif out.numel() in (T + n + 1, T + n - 1):
            extra = ": off by one in the number of generated tokens"
        raise AssertionError(
            f"request {rid!r} [{context}]: output shape expected {want_shape} (prompt of "
            f"{T} + max_new_tokens={n}, {layout}), got {tuple(out.shape)}{extra}"
        )
    assert out.dtype == torch.long, (
        f"request {rid!r} [{context}]: dtype expected torch.int64, got {out.dtype}"
    )
    assert out.device.type == prompt.device.type, (
        f"request {rid!r} [{context}]: device expected {prompt.device.type}, got {out.device.type}"
    )
    flat = out.reshape(-1).tolist()
    assert flat[:T] == prompt.reshape(-1).tolist(), (
        f"request {rid!r} [{context}]: the output must start with the request's prompt"
    )
    return flat[T:] == expected_new


def _simulate(model, requests, max_batch_size, left, use_mask):
    """The contract's schedule (FIFO, one token per running request per step) with the batch
    padded with token 0 on the left or right, with or without a mask, and the next token read
    from the last column: {request_id: new tokens}. Replays known mistakes."""
    waiting = [(rid, list(toks), n) for rid, toks, n in requests]
    running, out = [], {}
    device = model_device(model)
    with torch.no_grad():
        while waiting or running:
            while waiting and len(running) < max_batch_size:
                running.append([*waiting.pop(0), []])
            L = max(len(r[1]) for r in running)
            ids = torch.zeros(len(running), L, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(running):
                cols = slice(L - len(r[1]), L) if left else slice(0, len(r[1]))
                ids[i, cols], mask[i, cols] = torch.tensor(r[1]), 1
            mask = mask.to(device) if use_mask else None
            logits = model(ids.to(device), attention_mask=mask).logits[:, -1]
            still = []
            for r, t in zip(running, logits.argmax(-1).tolist()):
                r[1].append(t)
                r[3].append(t)
                r[2] -= 1
                if r[2] == 0:
                    out[r[0]] = r[3]
                else:
                    still.append(r)
            running = still
    return out


SIM_BUGS = [
    (
        (
            "the batch is padded on the left without an attention_mask, so real tokens "
            "attend to the padding: pass attention_mask (1 for real tokens, 0 for padding)"
        ),
        [(True, False)],
    ),
    (
        (
            "with right padding, the next token is read from the last column, which is "
            "padding for the shorter rows: read each row at its last real token (or pad on "
            "the left)"
        ),
        [(False, True), (False, False)],
    ),
]


def _diagnose(model, requests, max_batch_size, news):
    found = [
        why
        for why, configs in SIM_BUGS
        if any(_simulate(model, requests, max_batch_size, *c) == news for c in configs)
    ]
    if found:
        return "\nlikely bug (the outputs match this mistake): " + "; or ".join(found)
    return ""


def _collect(result, what, context):
    assert isinstance(result, dict), (
        f"{what} must return a dict {{request_id: output_ids}} [{context}], got "
        f"{type(result).__name__}"
    )
    return result


def _make(impl, model, max_batch_size):
    wrapped = Recorded(model)
    batcher = call(
        impl.ContinuousBatcher, wrapped, max_batch_size, what="ContinuousBatcher"
    )
    return batcher, wrapped


def _check_batch_sizes(wrapped, max_batch_size, context):
    sizes = [ids.shape[0] for ids, _ in wrapped.calls]
    over = [b for b in sizes if b > max_batch_size]
    assert not over, (
        f"max_batch_size={max_batch_size} [{context}]: a model call had a batch of {max(over)} "
        f"rows (batch sizes of the calls: {sizes}); never run more than max_batch_size "
        "requests at once, the others wait"
    )


# -- tests --------------------------------------------------------------------------------------

REQUESTS = [  # (request_id, prompt, max_new_tokens, prompt given as (1, T))
    ("a", [5, 17, 2], 4, False),
    ("b", [28, 11, 3, 9, 30, 1, 7], 2, True),
    (7, [12, 4, 22, 6, 19], 6, False),
    ("d", [8, 25], 1, True),
    ("e", [40, 33, 61, 14], 5, False),
    ("f", [50, 2, 9, 44, 13, 60], 3, True),
]


def _run_all(impl, model, requests, max_batch_size, device, context):
    batcher, wrapped = _make(impl, model, max_batch_size)
    prompts = {}
    for rid, toks, n, two_d in requests:
        prompt = _prompt(toks, two_d, device)
        before = prompt.clone()
        call(batcher.add, rid, prompt, n, what="add")
        prompts[rid] = (prompt, before)
    outputs = _collect(call(batcher.run, what="run"), "run()", context)
    missing = [rid for rid, *_ in requests if rid not in outputs]
    assert not missing, (
        f"run() [{context}]: requests {missing} are missing from the result; it returns every "
        f"request that finished during the call (got keys {list(outputs)})"
    )
    for rid, (prompt, before) in prompts.items():
        assert_unchanged(before, prompt, f"input_ids of request {rid!r}")
    return outputs, wrapped


def _check_tokens(model, requests, max_batch_size, outputs, expected, device, context):
    wrong = []
    for rid, toks, n, two_d in requests:
        prompt = _prompt(toks, two_d, device)
        if not _check_output(rid, outputs[rid], prompt, n, expected[rid], context):
            wrong.append(rid)
    if wrong:
        rid = wrong[0]
        news = {
            r: outputs[r].reshape(-1).tolist()[-len(expected[r]) :] for r in expected
        }
        raise AssertionError(
            f"[{context}]: requests {wrong} do not get the greedy tokens of decoding them one "
            f"at a time; request {rid!r}: got {news[rid]}, expected {expected[rid]}"
            + _diagnose(model, [r[:3] for r in requests], max_batch_size, news)
        )


@pytest.mark.parametrize("max_batch_size", [1, 2, 3, 8])
def test_run_gives_each_request_its_greedy_tokens(impl, device, max_batch_size):
    model = BagLM().to(device)
    context = f"bag model, 6 requests, max_batch_size={max_batch_size}"
    outputs, wrapped = _run_all(impl, model, REQUESTS, max_batch_size, device, context)
    expected = {rid: _greedy(model, toks, n) for rid, toks, n, _ in REQUESTS}
    _check_batch_sizes(wrapped, max_batch_size, context)
    _check_tokens(model, REQUESTS, max_batch_size, outputs, expected, device, context)
    sequential = sum(n for _, _, n, _ in REQUESTS)
    if max_batch_size > 1:
        assert len(wrapped.calls) < sequential, (
            f"[{context}]: {len(wrapped.calls)} model calls, no fewer than decoding the requests "
            f"one after another ({sequential}): run the running requests together, one "
            "padded batch per step"
        )


def test_llama_padded_batches_match_generate(impl, device):
    llama = _llama(device)
    requests = [
        ("p", [5, 17, 2], 5, False),
        ("q", [28, 11, 3, 9, 30, 1, 7], 3, True),
        ("r", [12, 4, 22, 6, 19], 6, False),
        ("s", [8, 25], 4, True),
    ]
    expected = {}
    for rid, toks, n, _ in requests:
        prompt = torch.tensor([toks], device=device)
        with torch.no_grad():
            out = llama.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=n,
                do_sample=False,
            )
        expected[rid] = out[0, len(toks) :].tolist()
        assert expected[rid] == _greedy(llama, toks, n), "verifier setup: near-tie"
    context = "tiny LlamaForCausalLM, prompts of 2 to 7 tokens, max_batch_size=3"
    outputs, wrapped = _run_all(impl, llama, requests, 3, device, context)
    _check_batch_sizes(wrapped, 3, context)
    _check_tokens(llama, requests, 3, outputs, expected, device, context)


def _finish_steps(batcher, steps, context):
    """{request_id: the step (1-based) whose result holds it} over `steps` calls of step()."""
    finished = {}
    for s in range(1, steps + 1):
        result = _collect(call(batcher.step, what="step"), "step()", context)
        for rid in result:
            assert rid not in finished, (
                f"step() [{context}]: request {rid!r} was returned by step {finished[rid]} and "
                f"again by step {s}; step() returns only the requests finished in that step"
            )
            finished[rid] = s
    return finished


def test_waiting_requests_take_free_slots_in_order(impl, device):
    # max_batch_size 2; A needs 2 tokens, B 4, C 3, D 1, all added at once. Step 1-2: A, B
    # (A done in 2). Step 3: C joins; 3-4: B, C (B done in 4). Step 5: D joins; C and D done.
    model = BagLM().to(device)
    batcher, wrapped = _make(impl, model, 2)
    plan = [
        ("A", [3, 4, 5], 2),
        ("B", [6, 7], 4),
        ("C", [9, 10, 11, 12], 3),
        ("D", [13], 1),
    ]
    for rid, toks, n in plan:
        call(batcher.add, rid, _prompt(toks, False, device), n, what="add")
    context = "max_batch_size=2, requests needing 2, 4, 3 and 1 tokens added at once"
    finished = _finish_steps(batcher, 6, context)
    _check_batch_sizes(wrapped, 2, context)
    want = {"A": 2, "B": 4, "C": 5, "D": 5}
    if finished != want:
        why = ""
        if finished.get("C", 99) > 5 or finished.get("D", 99) > 5:
            why = (
                "\nlikely bug: waiting requests wait for the running batch to drain; a request "
                "joins at the start of the first step with a free slot"
            )
        raise AssertionError(
            f"[{context}]: requests finished in steps {finished}, expected {want} (each step "
            "gives every running request one token; waiting requests take free slots first "
            "in, first out, at the start of a step)" + why
        )
    assert _collect(call(batcher.step, what="step"), "step()", context) == {}, (
        f"step() with nothing left to run must return an empty dict [{context}]"
    )


def test_request_added_while_running_joins_next_step(impl, device):
    model = BagLM().to(device)
    batcher, wrapped = _make(impl, model, 3)
    call(batcher.add, "A", _prompt([3, 4, 5], False, device), 6, what="add")
    call(batcher.add, "B", _prompt([6, 7], True, device), 5, what="add")
    context = "max_batch_size=3: A (6 tokens) and B (5) running, C (2 tokens) added after step 2"
    first = _finish_steps(batcher, 2, context)
    assert first == {}, (
        f"[{context}]: nothing can finish in the first two steps, got {first}"
    )
    c_prompt = _prompt([20, 21, 22, 23], False, device)
    call(batcher.add, "C", c_prompt, 2, what="add")
    finished = _finish_steps(batcher, 4, context)
    finished = {rid: s + 2 for rid, s in finished.items()}
    want = {"C": 4, "B": 5, "A": 6}
    if finished != want:
        why = ""
        if finished.get("C", 99) > 4:
            why = (
                "\nlikely bug: the new request waited for the running batch to drain; it "
                "joins at the start of the next step() when a slot is free"
            )
        raise AssertionError(
            f"[{context}]: requests finished in steps {finished}, expected {want}" + why
        )
    _check_batch_sizes(wrapped, 3, context)


def test_run_returns_only_what_finished_during_it(impl, device):
    model = BagLM().to(device)
    batcher, _ = _make(impl, model, 4)
    call(batcher.add, "early", _prompt([3, 4], False, device), 1, what="add")
    call(batcher.add, "late", _prompt([5, 6, 7], False, device), 3, what="add")
    context = "'early' (1 token) finished by step(), then run()"
    first = _collect(call(batcher.step, what="step"), "step()", context)
    assert set(first) == {"early"}, (
        f"[{context}]: the first step() must return exactly the request finished in it "
        f"('early'), got keys {list(first)}"
    )
    rest = _collect(call(batcher.run, what="run"), "run()", context)
    assert set(rest) == {"late"}, (
        f"[{context}]: run() must return the requests finished during that call only "
        f"(['late']), got keys {list(rest)}"
    )
    assert _collect(call(batcher.run, what="run"), "run()", context) == {}, (
        f"[{context}]: run() with nothing left must return an empty dict"
    )
    expected = _greedy(model, [5, 6, 7], 3)
    assert _check_output(
        "late", rest["late"], _prompt([5, 6, 7], False, device), 3, expected, context
    ), f"[{context}]: wrong tokens for 'late'"
