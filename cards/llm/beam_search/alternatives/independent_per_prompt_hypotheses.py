# Written independently of this card's verifier, from the contract alone.
# Beam search written per prompt with explicit hypothesis lists (no cache: each step re-runs the
# model on the live beams' full sequences), following transformers 5's rules:
#   - each step keeps the 2 * num_beams best (beam, token) candidates by summed float32 log-prob;
#   - a candidate that ends in EOS (or reaches max_new_tokens) is finished; only those ranked among
#     the first num_beams candidates are stored, scored sum_logprob / gen_len ** length_penalty
#     (gen_len counts the generated tokens, EOS included); the best num_beams finished are kept;
#   - the next live beams are the best num_beams unfinished candidates;
#   - early_stopping=True: a prompt is done once num_beams hypotheses are finished.
# The best finished hypothesis is returned; the rows are padded with EOS to the longest one.
# num_beams == 1 is plain greedy decoding (rows that produced EOS keep emitting EOS; stop when all did).
import torch


@torch.no_grad()
def _greedy(model, input_ids, max_new_tokens, eos_token_id):
    seq = input_ids
    done = torch.zeros(seq.shape[0], dtype=torch.bool, device=seq.device)
    for _ in range(max_new_tokens):
        nxt = model(seq).logits[:, -1, :].argmax(dim=-1)
        if eos_token_id is not None:
            nxt = torch.where(done, torch.full_like(nxt, eos_token_id), nxt)
            done = done | (nxt == eos_token_id)
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        if eos_token_id is not None and bool(done.all()):
            break
    return seq


@torch.no_grad()
def _one_prompt(model, prompt, num_beams, max_new_tokens, eos_token_id, length_penalty):
    live_seqs = prompt[None, :]  # (n_live, L)
    live_scores = torch.zeros(1, dtype=torch.float32, device=prompt.device)
    finished = []  # (score as float32 tensor, generated tokens as list)
    for step in range(max_new_tokens):
        logits = model(live_seqs).logits[:, -1, :].float()
        logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
        V = logp.shape[-1]
        total = (live_scores[:, None] + logp).reshape(-1)
        K = min(2 * num_beams, total.numel())
        top_s, top_i = torch.topk(total, K)
        gen_len = step + 1
        last = step == max_new_tokens - 1
        was_full = len(finished) >= num_beams
        new_seqs, new_scores, just_done = [], [], []
        for rank in range(K):
            beam, tok = int(top_i[rank]) // V, int(top_i[rank]) % V
            ends = last or (eos_token_id is not None and tok == eos_token_id)
            seq = torch.cat([live_seqs[beam], live_seqs.new_tensor([tok])])
            if ends:
                if rank < num_beams and not was_full:
                    just_done.append((top_s[rank] / (gen_len**length_penalty), seq))
            elif len(new_seqs) < num_beams:
                new_seqs.append(seq)
                new_scores.append(top_s[rank])
        if just_done:
            finished = sorted(finished + just_done, key=lambda h: -float(h[0]))[
                :num_beams
            ]
        if len(finished) >= num_beams or last or not new_seqs:
            break
        live_seqs = torch.stack(new_seqs)
        live_scores = torch.stack(new_scores)
    return finished[0][1]


def beam_search(
    model, input_ids, num_beams, max_new_tokens, eos_token_id=None, length_penalty=1.0
):
    if num_beams == 1:
        return _greedy(model, input_ids, max_new_tokens, eos_token_id)
    outs = [
        _one_prompt(
            model, input_ids[b], num_beams, max_new_tokens, eos_token_id, length_penalty
        )
        for b in range(input_ids.shape[0])
    ]
    L = max(o.numel() for o in outs)
    fill = eos_token_id if eos_token_id is not None else -1
    res = torch.full(
        (len(outs), L), fill, dtype=input_ids.dtype, device=input_ids.device
    )
    for b, o in enumerate(outs):
        res[b, : o.numel()] = o
    return res
