# Only the band: pad the keys on the left with window - 1 rows, unfold them into one window per
# query (B, H, N, window, D), score each query against its own window in float32, mask the
# padding, cast back. O(N * window) memory instead of O(N^2).
import torch
import torch.nn.functional as F


def sliding_window_attention(query, key, value, window):
    _B, _H, N, D = query.shape
    w = min(window, N)
    q, k, v = query.float(), key.float(), value.float()
    k = F.pad(k, (0, 0, w - 1, 0)).unfold(2, w, 1).transpose(-1, -2)  # (B, H, N, w, D)
    v = F.pad(v, (0, 0, w - 1, 0)).unfold(2, w, 1).transpose(-1, -2)  # (B, H, N, w, Dv)
    s = torch.einsum("bhnd,bhnwd->bhnw", q, k) * D**-0.5
    # slot t of query i holds key i - w + 1 + t, which is padding when negative
    pos = (
        torch.arange(N, device=q.device)[:, None]
        - w
        + 1
        + torch.arange(w, device=q.device)
    )
    s = s.masked_fill(pos < 0, float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.einsum("bhnw,bhnwe->bhne", p, v).to(query.dtype)
