"""Plain Python: token lists, heapq.nlargest over (score, beam, token) candidates, float64
log-probabilities (one model call per step for a row's beams)."""

import heapq

import torch


def _next_logprobs(model, beams, device):
    with torch.no_grad():
        ids = torch.tensor(beams, dtype=torch.long, device=device)
        logits = model(ids).logits[:, -1].double()
    return torch.log_softmax(logits, dim=-1).tolist()


def _one(model, prompt, nb, max_new, eos, lp, device):
    running = [(0.0, prompt)]
    done = []  # (score, tokens)
    for step in range(max_new):
        candidates = []
        table = _next_logprobs(model, [tokens for _, tokens in running], device)
        for b, (total, _) in enumerate(running):
            for t, lpr in enumerate(table[b]):
                candidates.append((total + lpr, b, t))
        best = heapq.nlargest(2 * nb, candidates, key=lambda c: c[0])
        was_full = len(done) >= nb
        nxt = []
        for rank, (total, b, t) in enumerate(best):
            tokens = running[b][1] + [t]
            if t == eos or step == max_new - 1:
                if rank < nb and not was_full:
                    done.append((total / (step + 1) ** lp, tokens))
            elif len(nxt) < nb:
                nxt.append((total, tokens))
        done = heapq.nlargest(nb, done, key=lambda d: d[0])
        running = nxt
        if len(done) >= nb:
            break
    return max(done, key=lambda d: d[0])[1]


def beam_search(
    model, input_ids, num_beams, max_new_tokens, eos_token_id=None, length_penalty=1.0
):
    device = input_ids.device
    rows = [
        _one(
            model, row, num_beams, max_new_tokens, eos_token_id, length_penalty, device
        )
        for row in input_ids.tolist()
    ]
    width = max(len(r) for r in rows)
    pad = eos_token_id if eos_token_id is not None else 0
    padded = [r + [pad] * (width - len(r)) for r in rows]
    return torch.tensor(padded, dtype=torch.long, device=device)
