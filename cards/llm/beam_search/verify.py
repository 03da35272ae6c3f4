"""Verifier for beam search: the same sequences as transformers' model.generate(num_beams=...,
do_sample=False, early_stopping=True, length_penalty=...) on a tiny randomly initialised Llama.

The model is built once per module with eos/bos/pad None in its config and a large initializer
range; generate's outputs are computed once per case. Each case's setup also replays the search
with an independent float32 implementation of the rules the prompt states and asserts that it
agrees with generate and that every decision it takes (the candidate ranks that matter, the
choice between finished hypotheses) is won by more than 1e-4 in log-probability, so a correct
implementation computing in float64 or without a cache can never fall on the other side of a
near-tie. A failed case names the known mistakes (no length normalisation, the prompt counted
in the length, finished beams left running, no early stop, ...) whose output the attempt's
equals, each replayed with that one rule changed."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from cards.checks import assert_tensor, assert_unchanged, call, generator

VOCAB = 40
MIN_GAP = 1e-4

# name: (seed of the prompts, batch, prompt length, num_beams, max_new_tokens, with EOS,
#        length_penalty)
CASES = {
    "eos_every_rule": (2540, 3, 4, 2, 10, True, 1.0),
    "no_eos_3_beams": (1404, 2, 5, 3, 6, None, 1.0),
    "greedy_no_eos": (1378, 2, 4, 1, 5, None, 1.0),
    "eos_length_penalty_0": (2067, 3, 5, 3, 8, True, 0.0),
    "eos_length_penalty_2": (2069, 3, 5, 3, 8, True, 2.0),
    "eos_4_beams": (1089, 2, 4, 4, 7, True, 1.0),
    "eos_2_beams_penalty_0.5": (2189, 3, 3, 2, 9, True, 0.5),
    "greedy_eos": (1062, 3, 5, 1, 8, True, 1.0),
    "eos_all_rows_end_early": (2540, 2, 5, 3, 10, True, 0.0),
}
EOS = 27  # a token the random model predicts often, so hypotheses end at different lengths


# -- the rules, replayed (with one rule changed to name a mistake) -------------------------------
def _search_one(model, prompt, nb, m, eos, lp, bug=None, gaps=None):
    """One prompt -> its best hypothesis, by the rules of the prompt; `bug` changes one rule.
    `gaps` (a list) collects the margins of the decisions taken."""
    T = prompt.shape[0]
    if bug == "duplicate_start":
        beams = [(prompt, 0.0)] * nb
    else:
        beams = [(prompt, 0.0)]
    finished = []  # (score, sequence, raw sum)
    every = []  # every finished score, also those pruned later
    K = nb if bug == "k_equals_num_beams" else 2 * nb
    for step in range(m):
        if not beams:
            break
        seqs = torch.stack([s for s, _ in beams])
        with torch.no_grad():
            logp = F.log_softmax(model(seqs).logits[:, -1, :].float(), dim=-1)
        V = logp.shape[-1]
        if bug == "no_accumulation":
            sums = logp
        else:
            sums = (
                logp + torch.tensor([s for _, s in beams], device=logp.device)[:, None]
            )
        ordered = sums.flatten().sort(descending=True)
        top_scores = ordered.values[:K].tolist()
        top_idx = ordered.indices[:K].tolist()
        if gaps is not None:
            head = ordered.values[: K + 1].tolist()
            gaps += [a - b for a, b in itertools.pairwise(head)]
        last = step == m - 1
        full = len(finished) >= nb and bug != "no_early_stop"
        running = []
        for rank, (score, idx) in enumerate(zip(top_scores, top_idx)):
            beam, token = divmod(idx, V)
            seq = torch.cat([beams[beam][0], prompt.new_tensor([token])])
            ends = token == eos
            if ends or (last and bug != "running_not_finalised"):
                eligible = rank < nb or (bug == "eos_at_any_rank" and ends)
                if eligible and not full:
                    n = step + 1
                    if bug == "total_length":
                        n = T + step + 1
                    elif bug == "eos_not_counted" and ends:
                        n = max(step, 1)
                    penalty = 0.0 if bug == "no_length_normalisation" else lp
                    finished.append((score / n**penalty, seq, score))
                    every.append(score / n**penalty)
                if ends and bug == "finished_keep_running" and len(running) < nb:
                    running.append((seq, score))
            elif len(running) < nb:
                running.append((seq, score))
        finished = sorted(finished, key=lambda f: f[0], reverse=True)
        if bug != "no_early_stop":
            finished = finished[:nb]
        beams = running
        if len(finished) >= nb and bug not in ("no_early_stop",):
            break
    if bug == "running_not_finalised" and not finished:
        best = max(beams, key=lambda b: b[1])
        return best[0]
    if bug == "no_early_stop":
        finished = finished[:nb]
    if gaps is not None:
        scores = sorted(every, reverse=True)
        gaps += [a - b for a, b in itertools.pairwise(scores)]
    return finished[0][1]


def _search(model, ids, nb, m, eos, lp, bug=None, gaps=None, pad=None):
    rows = [_search_one(model, r, nb, m, eos, lp, bug, gaps) for r in ids]
    width = max(r.shape[0] for r in rows)
    fill = pad if pad is not None else (eos if eos is not None else 0)
    out = torch.full((len(rows), width), fill, dtype=torch.long, device=ids.device)
    for b, r in enumerate(rows):
        out[b, : r.shape[0]] = r
    return out


BUGS = {
    "no_length_normalisation": "finished scores were not normalised by length: a finished "
    "hypothesis scores sum(log-probs) / (generated length) ** length_penalty",
    "total_length": "the length penalty used the total length, prompt included: divide by "
    "the number of generated tokens (EOS included) ** length_penalty, as transformers 5 does",
    "eos_not_counted": "the EOS token was not counted in the generated length: a hypothesis "
    "that ends with EOS after n tokens (EOS included) is divided by n ** length_penalty",
    "finished_keep_running": "finished beams (ending in EOS) were kept in the running set: "
    "an EOS candidate leaves the beam, and the next num_beams non-EOS candidates run on",
    "no_early_stop": "the search went on after num_beams hypotheses had finished: with "
    "early_stopping=True a row is done as soon as it holds num_beams finished hypotheses",
    "k_equals_num_beams": "only num_beams candidates were taken per step: take the best "
    "2 * num_beams, so that num_beams non-EOS beams survive when some candidates end in EOS",
    "eos_at_any_rank": "EOS candidates ranked below the first num_beams were also finished: "
    "only an EOS among the best num_beams candidates becomes a finished hypothesis",
    "duplicate_start": "the search started with num_beams copies of the prompt, so the first "
    "step picked the same tokens several times: start from one beam (the prompt alone)",
    "no_accumulation": "candidates were ranked by the new token's log-probability alone: add "
    "the beam's running sum of log-probabilities",
    "running_not_finalised": "beams still running at max_new_tokens were not finished: at the "
    "last step the best num_beams candidates all become finished hypotheses, EOS or not",
}


# -- the model and generate's outputs, built once per module -------------------------------------
_MODELS: dict = {}
_EXPECTED: dict = {}
_VARIANTS: dict = {}
_DIAGNOSED: list = []  # the cases whose failure was diagnosed (replaying costs time)


def _model(device):
    if device not in _MODELS:
        config = LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            initializer_range=0.2,
            eos_token_id=None,
            bos_token_id=None,
            pad_token_id=None,
            tie_word_embeddings=False,
            attn_implementation="eager",
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
        _MODELS[device] = model.to(device).eval()
    return _MODELS[device]


def _case(name, device):
    key = (name, device)
    if key not in _EXPECTED:
        seed, B, T, nb, m, eos, lp = CASES[name]
        eos = EOS if eos else None
        model = _model(device)
        ids = torch.randint(0, VOCAB, (B, T), generator=generator(seed))
        ids[ids == EOS] = (EOS + 1) % VOCAB  # no EOS inside a prompt
        ids = ids.to(device)
        with torch.no_grad():
            expected = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                num_beams=nb,
                do_sample=False,
                early_stopping=True,
                length_penalty=lp,
                max_new_tokens=m,
                eos_token_id=eos,
                pad_token_id=eos,
            )
        if device != "cpu":  # checked once on the CPU when the cases were chosen
            gaps: list = []
            replay = _search(model, ids, nb, m, eos, lp, gaps=gaps)
            assert torch.equal(replay.cpu(), expected.cpu()), (
                f"test setup [{name}]: the replayed rules disagree with generate"
            )
            assert min(gaps) > MIN_GAP, (
                f"test setup [{name}]: a near-tie ({min(gaps):.2g})"
            )
        _EXPECTED[key] = (model, ids, expected, (nb, m, eos, lp))
    return _EXPECTED[key]


def _variant(name, model, ids, nb, m, eos, lp, bug):
    """The output of the search with one rule changed (cached per case)."""
    key = (name, str(ids.device), bug)
    if key not in _VARIANTS:
        try:
            _VARIANTS[key] = _search(model, ids, nb, m, eos, lp, bug=bug)
        except (RuntimeError, IndexError, ValueError):
            _VARIANTS[key] = None
    return _VARIANTS[key]


def _diagnose(name, out, expected, model, ids, nb, m, eos, lp):
    found = []
    T = ids.shape[1]
    if out.shape == expected.shape and eos is not None:
        differ = out != expected
        if differ.any() and bool((expected[differ] == eos).all()):
            found.append(
                "the sequences are right but finished rows were padded with something else "
                f"than EOS ({eos}): pad with eos_token_id"
            )
    if out.shape[0] == expected.shape[0] and out.shape[1] > expected.shape[1]:
        head, tail = out[:, : expected.shape[1]], out[:, expected.shape[1] :]
        if (
            torch.equal(head, expected)
            and eos is not None
            and bool((tail == eos).all())
        ):
            found.append(
                "the output was padded to prompt + max_new_tokens: pad only to the longest "
                "returned hypothesis, as generate does"
            )
    same_rows = out.shape[0] == expected.shape[0]
    if (
        same_rows
        and out.shape[1] == expected.shape[1] - T
        and torch.equal(out, expected[:, T:])
    ):
        found.append(
            "only the new tokens were returned: return the prompt followed by them"
        )
    for bug, why in BUGS.items():
        wrong = _variant(name, model, ids, nb, m, eos, lp, bug)
        if wrong is None:
            continue
        if (
            wrong.shape == out.shape
            and torch.equal(wrong.cpu(), out.cpu())
            and not (
                wrong.shape == expected.shape
                and torch.equal(wrong.cpu(), expected.cpu())
            )
        ):
            found.append(why)
    if len(found) == 1:
        return f"\nlikely bug (the output matches this mistake): {found[0]}"
    if found:
        return "\nlikely bug, one of these (the output matches each):" + "".join(
            f"\n  - {w}" for w in found
        )
    return ""


@pytest.mark.parametrize("name", list(CASES))
def test_matches_generate(impl, device, name):
    model, ids, expected, (nb, m, eos, lp) = _case(name, device)
    before = ids.clone()
    args = (
        f"num_beams={nb}, max_new_tokens={m}, eos_token_id={eos}, length_penalty={lp}"
    )
    ctx = f"beam_search [{name}: input_ids of shape {tuple(ids.shape)}, {args}]"
    if eos is None and lp == 1.0:  # the defaults: eos_token_id=None, length_penalty=1.0
        out = call(impl.beam_search, model, ids, nb, m, what="beam_search")
    else:
        out = call(
            impl.beam_search,
            model,
            ids,
            nb,
            m,
            eos_token_id=eos,
            length_penalty=lp,
            what="beam_search",
        )
    assert_unchanged(before, ids, "input_ids")
    assert_tensor(out, ctx)
    assert out.dtype == torch.int64, (
        f"{ctx}: dtype expected torch.int64, got {out.dtype}"
    )
    assert out.device.type == ids.device.type, (
        f"{ctx}: device expected {ids.device.type}, got {out.device.type}"
    )
    got = out.detach()
    if got.shape == expected.shape and torch.equal(got.cpu(), expected.cpu()):
        return
    message = (
        f"{ctx}: expected the sequences of model.generate (shape {tuple(expected.shape)}):\n"
        f"{expected.cpu().tolist()}\ngot (shape {tuple(got.shape)}):\n{got.cpu().tolist()}"
    )
    if nb == 1:
        message += "\n(num_beams=1 is greedy decoding, stopping a row at its first EOS)"
    if not _DIAGNOSED:
        _DIAGNOSED.append(name)
        message += _diagnose(name, got, expected, model, ids, nb, m, eos, lp)
    else:
        message += (
            f"\n(the likely bug is named in the first failing case, {_DIAGNOSED[0]})"
        )
    raise AssertionError(message)
