"""Diagnosis shared by the attention cards' verifiers (attention, multi_head_attention, gqa).

The attention math in float64 on the CPU with knobs for known mistakes, the mask variants that
attention and multi-head attention share (each card passes its own words where they differ),
and the reruns that explain an exception: the dtype-promotion trace and the attempt's line.
What is named is decided by cards.checks.diagnose; nothing here decides pass or fail."""

from __future__ import annotations

import contextlib
import math
import sys

import torch
from torch.overrides import TorchFunctionMode

from cards.checks import DIAGNOSIS_ERRORS, raised  # noqa: F401 - raised: the verifiers' import

NEG_INF = float("-inf")

AFTER_SOFTMAX = (
    "the mask is applied to the probabilities after the softmax, so the rows no longer sum "
    "to 1: mask the scores before the softmax"
)


# -- the math, with knobs ---------------------------------------------------------------------


def attend(
    q,
    k,
    v,
    scale,
    blocked=None,
    fill=NEG_INF,
    bias=None,
    bias_scaled=False,
    dim=-1,
    after=None,
):
    """softmax(q @ kᵀ * scale + bias) @ v with knobs for known mistakes: `blocked` (True = score
    replaced by `fill`), an additive `bias` (scaled with the scores if `bias_scaled`), the
    softmax axis `dim`, and `after`, a factor on the probabilities after the softmax."""
    s = q @ k.transpose(-2, -1)
    if bias is not None and bias_scaled:
        s = (s + bias) * scale
    else:
        s = s * scale if bias is None else s * scale + bias
    if blocked is not None:
        s = s.masked_fill(blocked, fill)
    w = torch.softmax(s, dim=dim)
    if after is not None:
        w = w * after
    return w @ v


def weights64(module, names) -> dict:
    """{projection: (weight, bias or None)} as the module holds them, float64 on the CPU."""
    out = {}
    for name in names:
        lin = getattr(module, name)
        b = None if lin.bias is None else lin.bias.detach().to("cpu", torch.float64)
        out[name] = (lin.weight.detach().to("cpu", torch.float64), b)
    return out


def split_heads(t, H, how=None):
    """(B, T, E) -> (B, H, T, head_dim); how="view" is the direct view that mixes tokens."""
    B, T, E = t.shape
    if how == "view":
        return t.reshape(B, H, T, E // H)
    return t.reshape(B, T, H, E // H).transpose(1, 2)


def merge_heads(t, how=None):
    """(B, H, T, head_dim) -> (B, T, E); how="view" skips the transpose back."""
    B, H, T, hs = t.shape
    if how == "view":
        return t.reshape(B, T, H * hs)
    return t.transpose(1, 2).reshape(B, T, H * hs)


# -- variants: [(the mistake in the user's words, a callable computing its output)] -------------


def head_scale_variants(run, E) -> list:
    """Multi-head scale mistakes; run(scale=...) -> a callable computing that output."""
    return [
        (
            "the scores are scaled by 1/sqrt(embed_dim), not 1/sqrt(head_dim)",
            run(scale=1.0 / math.sqrt(E)),
        ),
        ("the scores are not scaled: divide them by sqrt(head_dim)", run(scale=1.0)),
    ]


class Masking:
    """How the reference masks the (L, S) scores for `attn_mask` (bool: True = may attend;
    float: added to the scores) or `is_causal` (top-left: query i sees keys 0..i): `blocked`
    (True = score -inf) and an additive `bias`, on the CPU; `mask` is attn_mask on the CPU."""

    def __init__(self, L, S, attn_mask=None, is_causal=False):
        self.L, self.S, self.is_causal = L, S, is_causal
        self.mask = None if attn_mask is None else attn_mask.detach().to("cpu")
        self.is_bool = self.mask is not None and self.mask.dtype == torch.bool
        self.blocked = (
            ~self.tril(0) if is_causal else (~self.mask if self.is_bool else None)
        )
        self.bias = (
            self.mask.double() if self.mask is not None and not self.is_bool else None
        )

    def tril(self, d):
        return torch.ones(self.L, self.S, dtype=torch.bool).tril(d)

    def variants(
        self, run, *, bottom_right, bool_inverted, bias_scaled, keep_mask=None
    ):
        """The mask mistakes for these inputs; run(**change) -> a callable computing the output
        with attend's knobs changed. The card's own words: `bottom_right` (the causal mask
        aligned bottom-right, when L != S), `bool_inverted`, `bias_scaled` (the float mask
        multiplied by the scale) and, if given, `keep_mask` (the float mask used as 0/1)."""
        tril, mask, found = self.tril, self.mask, []
        if self.is_causal:
            found += [
                (
                    (
                        "is_causal=True has no effect: the output matches attention without "
                        "the causal mask"
                    ),
                    run(blocked=None),
                ),
                (
                    (
                        "the causal mask is shifted by one: each query also sees the next key "
                        "(query i sees keys 0..i+1)"
                    ),
                    run(blocked=~tril(1)),
                ),
                (
                    "the causal mask is shifted by one: query i does not see key i (itself)",
                    run(blocked=~tril(-1)),
                ),
                (
                    "the causal mask is flipped: query i sees keys i.. (the future), not 0..i",
                    run(blocked=tril(-1)),
                ),
            ]
            if self.L != self.S:
                found.append((bottom_right, run(blocked=~tril(self.S - self.L))))
        if self.is_bool:
            found += [
                (bool_inverted, run(blocked=mask)),
                (
                    "the bool attn_mask has no effect: the output matches attention without it",
                    run(blocked=None),
                ),
                (
                    (
                        "the bool attn_mask is added to the scores as 0/1; a bool mask selects "
                        "positions (False = score -inf)"
                    ),
                    run(blocked=None, bias=mask.double()),
                ),
            ]
        if self.bias is not None:
            found.append(
                (
                    (
                        "the float attn_mask has no effect on the output: a float mask is "
                        "added to the scores"
                    ),
                    run(bias=None),
                )
            )
            if keep_mask is not None:
                found.append((keep_mask, run(bias=None, blocked=mask == 0)))
            found += [
                (bias_scaled, run(bias_scaled=True)),
                (AFTER_SOFTMAX, run(bias=None, after=self.bias.exp())),
            ]
        if self.blocked is not None:
            found += [
                (
                    (
                        "blocked positions get a score of 0 instead of -inf, so they still get "
                        "weight exp(0) after the softmax"
                    ),
                    run(fill=0.0),
                ),
                (AFTER_SOFTMAX, run(blocked=None, after=(~self.blocked).double())),
            ]
        return found


# -- reruns: why the attempt raised -------------------------------------------------------------


class _DtypeMix(TorchFunctionMode):
    """Finds the first operation of the attempt that combines a tensor of the low-precision
    dtype with a float32/float64 one (which promotes the result), and the attempt's line."""

    def __init__(self, low, path):
        super().__init__()
        self.low, self.path, self.found = low, path, None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.found is None:
            tensors = [
                t
                for t in (*args, *kwargs.values())
                if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() > 0
            ]
            wide = [t for t in tensors if t.dtype in (torch.float32, torch.float64)]
            if wide and any(t.dtype == self.low for t in tensors):
                frame = sys._getframe(1)
                while frame is not None and frame.f_code.co_filename != self.path:
                    frame = frame.f_back
                if frame is not None:
                    name = getattr(func, "__name__", str(func)).strip("_")
                    self.found = (name, wide[0], frame.f_lineno)
        return func(*args, **kwargs)


def dtype_mix_note(run, low, path, fix) -> str:
    """Reruns the attempt (`run()`) tracing dtypes; words for the first promoting operation,
    ending with `fix` (what to do, in the card's terms)."""
    tracer = _DtypeMix(low, path)
    # the rerun fails like the run did
    with (
        contextlib.suppress(*DIAGNOSIS_ERRORS),
        tracer,
    ):
        run()
    if tracer.found is None:
        return ""
    name, wide, line = tracer.found
    return (
        f"\nlikely bug (traced in the {low} run): on your line {line}, `{name}` combines a "
        f"{low} tensor with a {wide.dtype} tensor of shape {tuple(wide.shape)}, which "
        f"promotes the result to {wide.dtype}: {fix}"
    )


def attempt_file(module) -> str:
    """The file defining the module's forward: the attempt's, for a module it defines."""
    code = getattr(type(module).forward, "__code__", None)
    return code.co_filename if code is not None else ""
