"""Moves `dim` last, flattens the rest, and normalises one row at a time in Python with a
running max and sum (online softmax), then puts the dim back."""

import torch


def softmax(x, dim):
    moved = x.movedim(dim, -1)
    rows = moved.reshape(-1, moved.shape[-1]).float()
    out = []
    for row in rows:
        m = torch.tensor(float("-inf"), device=x.device)
        s = torch.tensor(0.0, device=x.device)
        for v in row:  # online: rescale the running sum when the max grows
            new_m = torch.maximum(m, v)
            # the old sum is 0 while the max is still -inf ((-inf) - (-inf) would be NaN)
            old = torch.where(s > 0, s * torch.exp(m - new_m), s)
            term = torch.exp(v - new_m) if v > float("-inf") else torch.zeros_like(s)
            s = old + term
            m = new_m
        out.append(torch.exp(row - m) / s)
    y = torch.stack(out).reshape(moved.shape).movedim(-1, dim)
    return y.to(x.dtype)
