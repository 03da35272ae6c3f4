# Written independently of this card's verifier, from the contract alone.
# Banded form: pad the keys/values with `window - 1` slots in front, unfold them into one window of
# `window` keys per query (B, H, N, window, D) and attend only inside it, so memory is O(N * window),
# never N x N. Pad slots (key index < 0) are masked with -inf; float32 softmax, cast back.
import math

import torch
import torch.nn.functional as F


def sliding_window_attention(query, key, value, window):
    N, D = query.shape[-2], query.shape[-1]
    w = max(1, min(int(window), N))
    q, k, v = query.float(), key.float(), value.float()
    # pad the sequence axis (-2) at the front
    kp = F.pad(k, (0, 0, w - 1, 0))
    vp = F.pad(v, (0, 0, w - 1, 0))
    kw = kp.unfold(-2, w, 1)  # (..., N, D, w): slot s of query i is key i - (w-1) + s
    vw = vp.unfold(-2, w, 1)
    scores = torch.einsum("...nd,...ndw->...nw", q, kw) / math.sqrt(D)
    i = torch.arange(N, device=q.device)[:, None]
    s = torch.arange(w, device=q.device)[None, :]
    real = (i - (w - 1) + s) >= 0  # (N, w)
    scores = scores.masked_fill(~real, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    out = torch.einsum("...nw,...ndw->...nd", p, vw)
    return out.to(query.dtype)
