"""Verifier for the SFT loss: against the next-token cross-entropy of the response tokens,
F.cross_entropy in float64 on labels with the prompt set to -100 (target j of row b counts iff
j >= prompt_lengths[b]), one mean over every counted token of the batch.

On a failed comparison the message names the classic mistake the loss matches, if any: the
prompt boundary off by one either way, a mean of per-sequence means, the prompt counted or the
mask inverted, no shift, the wrong denominator, each computed in float64."""

import pytest
import torch
import torch.nn.functional as F

from cards.checks import (
    assert_close,
    assert_close_diagnosed,
    assert_float32_mean_loss,
    assert_unchanged,
    call,
    generator,
    likely_bug,
    matches,
    tolerance,
)

V = 23


def _inputs(B, T, seed, device, dtype=torch.float32, scale=2.0):
    g = generator(seed)
    logits = torch.randn(B, T, V, generator=g, dtype=torch.float64) * scale
    ids = torch.randint(0, V, (B, T), generator=g)
    return logits.to(device=device, dtype=dtype), ids.to(device)


def _per_token(logits, ids, lengths, offset=0, shift=True, invert=False):
    """(per-target losses, counted mask), float64 on the CPU. Target j of row b counts iff
    j >= lengths[b] + offset (inverted: iff it does not); without the shift, logits[t] is
    scored against token t and counts iff t >= lengths[b] + offset."""
    # not detached: the gradient test differentiates it
    x = logits.to("cpu", torch.float64)
    y = ids.cpu()
    T = y.shape[1]
    pos = torch.arange(T)[None, :]
    keep = pos >= (torch.as_tensor(lengths).cpu()[:, None] + offset)
    if invert:
        keep = ~keep
    if shift:
        x, y, keep = x[:, :-1], y[:, 1:], keep[:, 1:]
    nll = -F.log_softmax(x, dim=-1).gather(-1, y[..., None])[..., 0]
    return nll * keep, keep


def expected_sft(logits, ids, lengths):
    loss, keep = _per_token(logits, ids, lengths)
    return loss.sum() / keep.sum()


def _variants(logits, ids, lengths):
    """[(a classic mistake in the user's terms, its loss)], float64 on the CPU."""
    found = []

    def mean(offset=0, **kw):
        loss, keep = _per_token(logits, ids, lengths, offset, **kw)
        return loss.sum() / keep.sum()

    found.append(
        (
            (
                "the prompt boundary is off by one: the first response token (position "
                "prompt_length, predicted by the logits at prompt_length - 1) was not counted; "
                "after the shift, target j counts iff j >= prompt_length"
            ),
            mean(1),
        )
    )
    found.append(
        (
            (
                "the prompt boundary is off by one: the last prompt token (position "
                "prompt_length - 1) was counted as a target; after the shift, target j counts "
                "iff j >= prompt_length"
            ),
            mean(-1),
        )
    )
    found.append(
        (
            (
                "the prompt was not masked: every target counts (that is the plain causal LM "
                "loss); only the response tokens, j >= prompt_length, count"
            ),
            mean(-(10**6)),
        )
    )
    found.append(
        (
            "the mask is inverted: the prompt tokens were counted and the response left out",
            mean(invert=True),
        )
    )
    why = (
        "the shift by one is missing: the logits at position t predict the token at t + 1, "
        "so pair logits[:, :-1] with the targets input_ids[:, 1:]"
    )
    for offset in (0, 1):
        found.append((why, lambda offset=offset: mean(offset, shift=False)))
    loss, keep = _per_token(logits, ids, lengths)
    counted = keep.sum(1) > 0
    found.append(
        (
            (
                "a mean of the per-sequence means: the loss is one mean over every counted token "
                "of the batch (sum of their losses / their number), so long responses weigh more"
            ),
            (loss.sum(1)[counted] / keep.sum(1)[counted]).mean(),
        )
    )
    found.append(
        (
            (
                "the prompt tokens were counted in the mean's denominator: divide by the number "
                "of response tokens only"
            ),
            loss.sum() / keep.numel(),
        )
    )
    found.append(
        (
            (
                "a mean over the sequences of the summed token losses: divide the sum by the "
                "number of counted tokens"
            ),
            loss.sum() / loss.shape[0],
        )
    )
    found.append(
        ("a sum over the tokens: take the mean over the counted tokens", loss.sum())
    )
    return found


def _call(impl, logits, ids, lengths):
    logits_before, ids_before = logits.clone(), ids.clone()
    lengths_before = (
        lengths.clone() if isinstance(lengths, torch.Tensor) else list(lengths)
    )
    out = call(impl.sft_loss, logits, ids, lengths, what="sft_loss")
    assert_unchanged(logits_before, logits, "logits")
    try:
        assert_unchanged(ids_before, ids, "input_ids")
    except AssertionError as exc:
        note = ""
        if (ids == -100).any():
            note = (
                "\nlikely bug: the prompt was masked by writing -100 into the caller's "
                "input_ids: build new labels (input_ids.masked_fill(...), or clone first)"
            )
        raise AssertionError(f"{exc}{note}") from None
    if isinstance(lengths, torch.Tensor):
        assert_unchanged(lengths_before, lengths, "prompt_lengths")
    else:
        assert list(lengths) == lengths_before, "prompt_lengths (a list) was modified"
    return out


def _check(out, logits, ids, lengths, context):
    expected = expected_sft(logits, ids, lengths).to(
        device=logits.device, dtype=torch.float32
    )
    assert_float32_mean_loss(out, logits, context)
    atol, rtol = tolerance(torch.float32)
    try:
        assert_close_diagnosed(
            out,
            expected,
            lambda: _variants(logits, ids, lengths),
            what="loss",
            atol=atol,
            rtol=rtol,
            context=context,
        )
    except AssertionError as exc:
        note = (
            "" if "likely bug" in str(exc) else _precision_note(out, expected, logits)
        )
        if not note:
            raise
        raise AssertionError(f"{exc}{note}") from None


def _precision_note(out, expected, logits):
    if logits.dtype not in (torch.float16, torch.bfloat16):
        return ""
    atol, rtol = tolerance(logits.dtype)
    a = out.detach().to("cpu", torch.float64).reshape(())
    if not matches(a, expected.detach().to("cpu", torch.float64), atol, rtol):
        return ""
    why = (
        f"the loss is right only to {logits.dtype} precision: it was computed in half "
        "precision and cast at the end; upcast the logits to float32 first (logits.float())"
    )
    return likely_bug([why])


# (B, T, prompt lengths): different prompt lengths per row, 0, 1 and T among them
CASES = [
    (2, 8, [3, 5]),
    (3, 7, [1, 4, 6]),
    (4, 9, [0, 2, 9, 5]),
    (1, 6, [2]),
    (3, 10, [7, 2, 4]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c[2])))
@pytest.mark.parametrize("as_tensor", [False, True], ids=["list", "tensor"])
def test_matches_response_only_cross_entropy(impl, device, case, as_tensor):
    B, T, lengths = case
    logits, ids = _inputs(B, T, seed=B * T, device=device)
    arg = torch.tensor(lengths, device=device) if as_tensor else list(lengths)
    out = _call(impl, logits, ids, arg)
    kind = "tensor" if as_tensor else "list"
    _check(
        out, logits, ids, lengths, f"B={B}, T={T}, prompt_lengths={lengths} as a {kind}"
    )


def test_int32_tensor_lengths(impl, device):
    logits, ids = _inputs(3, 8, seed=5, device=device)
    lengths = [2, 6, 3]
    out = _call(
        impl, logits, ids, torch.tensor(lengths, dtype=torch.int32, device=device)
    )
    _check(out, logits, ids, lengths, f"prompt_lengths={lengths} as an int32 tensor")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_logits_give_a_float32_loss(impl, device, dtype):
    logits, ids = _inputs(3, 8, seed=6, device=device, dtype=dtype, scale=4.0)
    lengths = [2, 5, 3]
    out = _call(impl, logits, ids, lengths)
    _check(out, logits, ids, lengths, f"{dtype} logits, prompt_lengths={lengths}")


def test_gradients_only_where_targets_count(impl, device):
    B, T = 3, 7
    lengths = [2, 5, 3]
    logits, ids = _inputs(B, T, seed=7, device=device)
    logits.requires_grad_()
    out = _call(impl, logits, ids, lengths)
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the loss does not require grad: it must be computed from the logits (is it "
        "detached, or built from .item() / numpy?)"
    )
    out.backward()
    assert logits.grad is not None, "no gradient reached the logits"
    x64 = logits.detach().to("cpu", torch.float64).requires_grad_()
    loss, keep = _per_token(x64, ids, lengths)
    (loss.sum() / keep.sum()).backward()
    assert_close(
        logits.grad,
        x64.grad.to(device=device, dtype=torch.float32),
        what="gradient of the logits (zero at prompt positions before the last prompt "
        "token, and at the last position)",
        atol=1e-6,
        rtol=1e-4,
    )
