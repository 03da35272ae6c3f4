"""Row by row: each row's response targets sliced out with Python ints, their negative
log-probabilities summed by hand (log-sum-exp), and the total divided by the token count."""

import torch


def sft_loss(logits, input_ids, prompt_lengths):
    total = logits.new_zeros((), dtype=torch.float32)
    count = 0
    for b in range(logits.shape[0]):
        start = max(int(prompt_lengths[b]), 1)  # target j counts iff j >= prompt length
        if start >= logits.shape[1]:
            continue
        x = logits[b, start - 1 : -1].float()  # logits[j - 1] predicts token j
        y = input_ids[b, start:]
        lse = torch.logsumexp(x, dim=-1)
        total = total + (lse - x[torch.arange(len(y), device=x.device), y]).sum()
        count += len(y)
    return total / count
