# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def message_passing(x, edge_index, aggregate="sum"):
    """Aggregates x[src] into dst. sum/mean go through a dense (N, E) incidence matrix;
    max uses scatter_reduce over a -inf canvas, then zeroes nodes that got nothing."""
    n = x.shape[0]
    src, dst = edge_index[0].long(), edge_index[1].long()
    E = src.numel()
    msgs = x[src]  # (E, *F)
    feat = 1
    for s in x.shape[1:]:
        feat *= s
    flat = msgs.reshape(E, feat)
    counts = torch.zeros(n, dtype=torch.long, device=x.device).index_add_(
        0, dst, torch.ones(E, dtype=torch.long, device=x.device)
    )
    if aggregate in ("sum", "mean"):
        inc = torch.zeros(n, E, dtype=x.dtype, device=x.device)
        inc[dst, torch.arange(E, device=x.device)] = 1
        out = inc @ flat
        if aggregate == "mean":
            out = out / counts.clamp(min=1).to(x.dtype).unsqueeze(1)
        return out.reshape((n,) + tuple(x.shape[1:]))
    if aggregate == "max":
        canvas = torch.full(
            (n, flat.shape[1]), float("-inf"), dtype=x.dtype, device=x.device
        )
        idx = dst.unsqueeze(1).expand_as(flat)
        out = canvas.scatter_reduce(0, idx, flat, reduce="amax", include_self=True)
        out = torch.where((counts > 0).unsqueeze(1), out, torch.zeros_like(out))
        return out.reshape((n,) + tuple(x.shape[1:]))
    raise ValueError(f"unknown aggregate {aggregate!r}")
