"""Alternative: Gumbel-max sampling, the k acceptance tests done at once on tensors (the first
rejection found with cumprod), keyword calls model(input_ids=...), and greedy decoding as its
own branch."""

import torch


def _gumbel_argmax(logweights, generator):
    u = torch.rand(
        logweights.shape, generator=generator, device=logweights.device
    ).clamp_min(1e-20)
    return (logweights - torch.log(-torch.log(u))).argmax(dim=-1)


@torch.no_grad()
def speculative_decode(
    target,
    draft,
    input_ids,
    max_new_tokens,
    num_draft_tokens=4,
    temperature=0.0,
    generator=None,
):
    seq = input_ids.clone()
    goal = input_ids.shape[1] + max_new_tokens
    target_calls = 0
    while seq.shape[1] < goal:
        start = seq.shape[1]
        k = min(num_draft_tokens, goal - start - 1)
        draft_logprobs = []
        for _ in range(k):
            logits = draft(input_ids=seq).logits[0, -1].float()
            if temperature == 0:
                nxt = logits.argmax()
            else:
                lp = torch.log_softmax(logits / temperature, dim=-1)
                draft_logprobs.append(lp)
                nxt = _gumbel_argmax(lp, generator)
            seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
        rows = target(input_ids=seq).logits[0, start - 1 :].float()  # (k + 1, V)
        target_calls += 1
        proposed = seq[0, start:]
        if temperature == 0:
            agree = (rows[:k].argmax(-1) == proposed).long()
            n = int(agree.cumprod(0).sum())
            seq = torch.cat([seq[:, : start + n], rows[n].argmax().view(1, 1)], dim=1)
            continue
        p = torch.softmax(rows / temperature, dim=-1)
        if k:
            q = torch.stack(draft_logprobs).exp()  # (k, V)
            idx = proposed.view(-1, 1)
            ratio = p[:k].gather(1, idx)[:, 0] / q.gather(1, idx)[:, 0]
            u = torch.rand(k, generator=generator, device=p.device)
            n = int((u < ratio).long().cumprod(0).sum())
        else:
            n = 0
        if n < k:
            residual = (p[n] - q[n]).clamp(min=0)
            last = _gumbel_argmax(residual.log(), generator)
        else:
            last = _gumbel_argmax(p[k].log(), generator)
        seq = torch.cat([seq[:, : start + n], last.view(1, 1)], dim=1)
    return seq, target_calls
