"""All rows and beams as one (B, num_beams, L) tensor, as transformers lays it out: the extra
beams start at -1e9 so the first step expands the prompt once; log-probabilities in float64."""

import torch


@torch.no_grad()
def beam_search(
    model, input_ids, num_beams, max_new_tokens, eos_token_id=None, length_penalty=1.0
):
    B, T = input_ids.shape
    nb, K = num_beams, 2 * num_beams
    seqs = input_ids[:, None, :].expand(B, nb, T).contiguous()
    run = torch.full((B, nb), -1e9, dtype=torch.float64, device=input_ids.device)
    run[:, 0] = 0.0
    finished = [[] for _ in range(B)]  # per row: [(score, tokens)], best first
    for step in range(max_new_tokens):
        logits = model(seqs.reshape(B * nb, -1)).logits[:, -1, :]
        logp = torch.log_softmax(logits.double(), dim=-1).reshape(B, nb, -1)
        V = logp.shape[-1]
        top_s, top_i = (run[..., None] + logp).reshape(B, nb * V).topk(K, dim=-1)
        src, tok = top_i // V, top_i % V
        L = seqs.shape[-1]
        cand = torch.cat(
            [seqs.gather(1, src[..., None].expand(B, K, L)), tok[..., None]], dim=-1
        )
        if step == max_new_tokens - 1:
            ends = torch.ones_like(tok, dtype=torch.bool)
        elif eos_token_id is None:
            ends = torch.zeros_like(tok, dtype=torch.bool)
        else:
            ends = tok == eos_token_id
        for b in range(B):
            if len(finished[b]) >= nb:  # this row was full before the step: done
                continue
            new = [
                (top_s[b, r].item() / (step + 1) ** length_penalty, cand[b, r])
                for r in range(nb)
                if ends[b, r]
            ]
            finished[b] = sorted(finished[b] + new, key=lambda f: -f[0])[:nb]
        keep = top_s.masked_fill(ends, float("-inf"))
        order = keep.argsort(dim=-1, descending=True, stable=True)[:, :nb]
        seqs = cand.gather(1, order[..., None].expand(B, nb, L + 1))
        run = top_s.gather(1, order)
        if all(len(f) >= nb for f in finished):
            break
    best = [f[0][1] for f in finished]
    width = max(s.shape[0] for s in best)
    fill = 0 if eos_token_id is None else eos_token_id
    out = input_ids.new_full((B, width), fill)
    for b, s in enumerate(best):
        out[b, : s.shape[0]] = s
    return out
