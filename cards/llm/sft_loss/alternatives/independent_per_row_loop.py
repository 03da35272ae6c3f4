# Written independently of this card's verifier, from the contract alone.
# SFT loss with a Python loop over the batch: for each sequence, the float32 log-softmax of the
# logits at positions p-1 .. T-2 (they predict tokens p .. T-1, the response); the per-token
# losses are summed over the whole batch and divided once by the total count of response tokens.
import torch


def sft_loss(logits, input_ids, prompt_lengths):
    B, T, _V = logits.shape
    if torch.is_tensor(prompt_lengths):
        prompt_lengths = prompt_lengths.tolist()
    total = logits.new_zeros((), dtype=torch.float32)
    count = 0
    for b in range(B):
        # target index t+1 >= p  <=> logits index t >= p-1
        p = max(int(prompt_lengths[b]), 1)
        if p >= T:
            continue
        x = logits[b, p - 1 : T - 1].to(torch.float32)  # (T-p, V)
        y = input_ids[b, p:T]
        m = x.max(-1, keepdim=True).values
        lse = (x - m).exp().sum(-1).log() + m.squeeze(-1)
        total = total + (lse - x[torch.arange(x.shape[0]), y]).sum()
        count += x.shape[0]
    return total / count
