# expect: duplicate edges were collapsed
import torch


def message_passing(x, edge_index, aggregate="sum"):
    n = x.shape[0]
    # bug: a dense 0/1 adjacency counts an edge listed twice once
    a = torch.zeros(n, n, dtype=x.dtype, device=x.device)
    a[edge_index[1], edge_index[0]] = 1
    if aggregate == "sum":
        return a @ x
    if aggregate == "mean":
        return (a @ x) / a.sum(1, keepdim=True).clamp(min=1)
    filled = torch.where(a[:, :, None] > 0, x[None], torch.full_like(x[None], float("-inf")))
    best = filled.amax(1)
    return torch.where(a.sum(1, keepdim=True) > 0, best, torch.zeros_like(best))
