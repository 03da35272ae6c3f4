# expect: no bonus token
"""Mutant: when every proposal is accepted, it adds no bonus token from the target's last row."""

import torch


def _probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(logits.float() / temperature, dim=-1)


@torch.no_grad()
def speculative_decode(
    target,
    draft,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    num_draft_tokens: int = 4,
    temperature: float = 0.0,
    generator=None,
):
    greedy = temperature == 0
    prompt_len = input_ids.shape[1]
    ids = input_ids
    target_calls = 0
    while ids.shape[1] - prompt_len < max_new_tokens:
        start = ids.shape[1]
        # 1. The draft proposes k tokens one by one (k = what is still needed, minus the one
        #    the target adds itself), keeping its distributions q for the test below.
        k = min(num_draft_tokens, max_new_tokens - (start - prompt_len))
        seq, q = ids, []
        for _ in range(k):
            logits = draft(seq).logits[0, -1]
            if greedy:
                token = logits.argmax()
            else:
                q.append(_probs(logits, temperature))
                token = torch.multinomial(q[-1], 1, generator=generator)[0]
            seq = torch.cat([seq, token.view(1, 1)], dim=1)
        proposed = seq[0, start:]

        # 2. One target call scores all of them. The trick: the logits at position j predict
        #    token j + 1, so rows start - 1 ... start + k - 1 judge the k proposals and give
        #    one more token (the bonus) after the last. The first call is also the prefill.
        logits = target(seq).logits[0, start - 1 :]  # (k + 1, V)
        target_calls += 1

        if greedy:
            best = logits.argmax(dim=-1)  # (k + 1,)
            n = 0
            while n < k and proposed[n] == best[n]:
                n += 1
            new = proposed if n == k else torch.cat([proposed[:n], best[n : n + 1]])
        else:
            p = _probs(logits, temperature)  # (k + 1, V)
            new = []
            for i in range(k):
                x = proposed[i]
                u = torch.rand((), generator=generator, device=p.device)
                if u < p[i, x] / q[i][x]:  # accept with probability min(1, p(x) / q(x))
                    new.append(x)
                    continue
                # Rejected: sample from the residual max(p - q, 0), renormalised.
                residual = (p[i] - q[i]).clamp(min=0)
                new.append(torch.multinomial(residual, 1, generator=generator)[0])
                break
            new = torch.stack(new)
        ids = torch.cat([ids, new.view(1, -1).to(ids.dtype)], dim=1)
    # Never more than asked for (k above already keeps it exact; the slice is a guard).
    return ids[:, : prompt_len + max_new_tokens], target_calls
