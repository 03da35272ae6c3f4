# Written independently of this card's verifier, from the contract alone.
# HF-style shift done on the labels (pad the end with ignore_index, keep all T logits), then a
# hand-written float32 log-sum-exp and gather; the mean is over tokens whose label is not ignored.
import torch


def causal_lm_loss(logits, input_ids, ignore_index=-100):
    B, _T, V = logits.shape
    pad = torch.full(
        (B, 1), ignore_index, dtype=input_ids.dtype, device=input_ids.device
    )
    # label of position t is token t+1
    labels = torch.cat([input_ids[:, 1:], pad], dim=1).reshape(-1)
    x = logits.reshape(-1, V).to(torch.float32)
    m = x.amax(dim=-1, keepdim=True)
    lse = m.squeeze(-1) + torch.log(torch.exp(x - m).sum(-1))
    keep = labels != ignore_index
    idx = torch.where(keep, labels, torch.zeros_like(labels))
    picked = x.gather(1, idx.unsqueeze(1)).squeeze(1)
    nll = (lse - picked) * keep
    return nll.sum() / keep.sum()
