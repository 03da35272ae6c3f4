# Written from the contract alone, by a writer who had not read this card's verifier.
import torch


def softmax(x, dim):
    """Normalise in the log domain: softmax = exp(x - m - log(sum exp(x - m)))
    with m the (detached) slice maximum. Half precision is computed in float32
    and cast back."""
    work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    xf = x.to(work)
    m = xf.detach().amax(dim=dim, keepdim=True)
    shifted = xf - m  # all -inf slice: -inf - (-inf) = nan, as torch
    log_norm = torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))
    out = torch.exp(shifted - log_norm)
    return out.to(x.dtype)
