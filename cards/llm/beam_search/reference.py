"""Beam search for a causal LM, with the rules of transformers 5's generate(num_beams=...,
do_sample=False, early_stopping=True).

Left out: a KV cache (the model reruns the whole sequence each step), sampling beams,
num_return_sequences > 1, several EOS ids, diverse / constrained beam search.
"""

import torch
import torch.nn.functional as F


@torch.no_grad()
def beam_search(
    model,
    input_ids: torch.Tensor,
    num_beams: int,
    max_new_tokens: int,
    eos_token_id=None,
    length_penalty: float = 1.0,
) -> torch.Tensor:
    rows = [
        _search_one(model, ids, num_beams, max_new_tokens, eos_token_id, length_penalty)
        for ids in input_ids
    ]
    # Pad each row's best hypothesis with EOS to the longest one.
    width = max(r.shape[0] for r in rows)
    fill = eos_token_id if eos_token_id is not None else 0
    out = torch.full(
        (len(rows), width), fill, dtype=torch.long, device=input_ids.device
    )
    for b, r in enumerate(rows):
        out[b, : r.shape[0]] = r
    return out


def _search_one(model, prompt, num_beams, max_new_tokens, eos, length_penalty):
    """One prompt (T,) -> its best hypothesis (T + generated,). Rows of a batch are independent."""
    # Running beams: (sequence, sum of log-probabilities); one beam at first, so the first step
    # cannot pick the same token num_beams times.
    beams = [(prompt, 0.0)]
    finished = []  # (normalised score, sequence), at most num_beams, best first
    for step in range(max_new_tokens):
        seqs = torch.stack([s for s, _ in beams])  # (n, T + step)
        logp = F.log_softmax(model(seqs).logits[:, -1, :].float(), dim=-1)  # (n, V)
        vocab = logp.shape[-1]
        sums = logp + torch.tensor([s for _, s in beams], device=logp.device)[:, None]
        # 2 * num_beams candidates, so that num_beams survive even if num_beams of them end in EOS.
        top_scores, top_idx = sums.flatten().topk(2 * num_beams)
        last = step == max_new_tokens - 1
        # early_stopping=True: a full row takes no more
        full = len(finished) >= num_beams
        running = []
        for rank, (score, idx) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
            beam, token = divmod(idx, vocab)
            seq = torch.cat([beams[beam][0], prompt.new_tensor([token])])
            if last or token == eos:
                # Only the top num_beams candidates may finish; the score is normalised by the
                # number of generated tokens (EOS included), not by the full length.
                if rank < num_beams and not full:
                    finished.append((score / (step + 1) ** length_penalty, seq))
            elif len(running) < num_beams:
                running.append((seq, score))  # finished beams never run on
        finished = sorted(finished, key=lambda f: f[0], reverse=True)[:num_beams]
        beams = running
        if len(finished) >= num_beams:
            break
    return finished[0][1]
