"""Each shard's block is finished on its own (normalised output and log-sum-exp), then merged
into the running result through the log-sum-exp: out = out·e^(lse - lse') + o·e^(x - lse'). The
ring runs the other way (send to the left, receive from the right), k and v in two messages,
and the causal mask is built from global positions for every block."""

import math

import torch
import torch.distributed as dist


def ring_attention(q, k, v, is_causal=False):
    me, W = dist.get_rank(), dist.get_world_size()
    n, d = q.shape[-2], q.shape[-1]
    qs = q.to(torch.float32) / math.sqrt(d)
    out, lse = None, None
    cur_k, cur_v = k.contiguous(), v.contiguous()
    rows = torch.arange(me * n, (me + 1) * n)[:, None]
    for step in range(W):
        # receiving from the right: shards of higher ranks first
        owner = (me + step) % W
        if step + 1 < W:
            nk, nv = torch.empty_like(cur_k), torch.empty_like(cur_v)
            ops = [
                dist.P2POp(dist.isend, cur_k, (me - 1) % W),
                dist.P2POp(dist.isend, cur_v, (me - 1) % W),
                dist.P2POp(dist.irecv, nk, (me + 1) % W),
                dist.P2POp(dist.irecv, nv, (me + 1) % W),
            ]
            works = dist.batch_isend_irecv(ops)
        scores = qs @ cur_k.to(torch.float32).transpose(-2, -1)
        if is_causal:
            cols = torch.arange(owner * n, (owner + 1) * n)[None, :]
            scores = scores.masked_fill(cols > rows, float("-inf"))
        x = torch.logsumexp(scores, dim=-1, keepdim=True)  # -inf for a fully masked row
        if torch.isfinite(x).any():
            o = torch.exp(scores - x).nan_to_num(0.0) @ cur_v.to(torch.float32)
            if out is None:
                out, lse = o, x
            else:
                new = torch.logaddexp(lse, x)
                out = out * torch.exp(lse - new).nan_to_num(0.0) + o * torch.exp(
                    x - new
                ).nan_to_num(0.0)
                lse = new
        if step + 1 < W:
            for w in works:
                w.wait()
            cur_k, cur_v = nk, nv
    return out.to(q.dtype)
