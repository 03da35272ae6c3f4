"""Verifier for the causal LM loss: against a tiny, randomly initialised LlamaForCausalLM
(nothing downloaded). The reference is the model's own loss, `model(input_ids, labels=labels)
.loss`, or `model.loss_function` applied to the model's logits; the attempt gets those logits.

On a failed comparison the message names the classic mistake the loss matches, if any (no
shift, the shift the wrong way, a mean of per-sequence means, ignored targets in the
denominator, a sum, a half-precision computation), each computed in float64."""

import functools
import warnings

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

VOCAB = 41


@functools.cache
def _model():
    """A tiny LlamaForCausalLM with seeded random weights, float32 on the CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers.models.llama import modeling_llama as hf
    config = hf.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        initializer_range=0.5,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        attn_implementation="eager",
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = hf.LlamaForCausalLM(config)
    return model.eval()


def _ids(B, T, seed):
    return torch.randint(0, VOCAB, (B, T), generator=generator(seed))


def _run(ids, labels=None, ignore_index=-100):
    """(logits (B, T, V) float32, the model's loss for `labels`), both on the CPU."""
    model = _model()
    labels = ids if labels is None else labels
    with torch.no_grad():
        if ignore_index == -100:
            out = model(input_ids=ids, labels=labels)
            return out.logits, out.loss
        logits = model(input_ids=ids).logits
        loss = model.loss_function(
            logits=logits, labels=labels, vocab_size=VOCAB, ignore_index=ignore_index
        )
        return logits, loss


def _per_token(logits, labels, ignore_index, shift="right"):
    """(per-target losses, mask of counted targets), float64, for a way of pairing them."""
    x = logits.detach().to("cpu", torch.float64)
    y = labels.cpu()
    if shift == "right":  # logits[t] predicts token t + 1
        x, y = x[:, :-1], y[:, 1:]
    elif shift == "wrong way":  # logits[t + 1] against token t
        x, y = x[:, 1:], y[:, :-1]
    elif shift == "labels not shifted":  # the last position dropped, no shift
        x, y = x[:, :-1], y[:, :-1]
    keep = y != ignore_index
    safe = torch.where(keep, y, torch.zeros_like(y))
    nll = -F.log_softmax(x, dim=-1).gather(-1, safe[..., None])[..., 0]
    return nll * keep, keep


def _variants(logits, labels, ignore_index):
    """[(a classic mistake in the user's terms, its loss)], float64 on the CPU."""
    found = []
    for shift, why in (
        (
            "none",
            (
                "the shift by one is missing: the logits at position t predict the token at "
                "t + 1, so pair logits[:, :-1] with input_ids[:, 1:]"
            ),
        ),
        (
            "labels not shifted",
            (
                "the last position was dropped but the targets were not shifted: pair "
                "logits[:, :-1] with input_ids[:, 1:], not input_ids[:, :-1]"
            ),
        ),
        (
            "wrong way",
            (
                "the shift goes the wrong way (logits[:, 1:] against input_ids[:, :-1]): the "
                "logits at position t predict the NEXT token, pair logits[:, :-1] with "
                "input_ids[:, 1:]"
            ),
        ),
    ):
        loss, keep = _per_token(logits, labels, ignore_index, shift)
        found.append((why, loss.sum() / keep.sum()))
    loss, keep = _per_token(logits, labels, ignore_index)
    if (keep.sum(1) != keep.shape[1]).any() and loss.shape[0] > 1:
        why = (
            "a mean of the per-sequence means: the loss is one mean over every counted target "
            "of the batch (sequences with more targets weigh more)"
        )
        counted = keep.sum(1) > 0
        per_seq = loss.sum(1)[counted] / keep.sum(1)[counted]
        found.append((why, per_seq.mean()))
    if not keep.all():
        why = (
            "ignored targets were counted in the mean's denominator: divide by the number of "
            "targets that are not ignore_index"
        )
        found.append((why, loss.sum() / keep.numel()))
        why = (
            "a mean over the sequences of the summed token losses: divide the sum by the "
            "number of counted targets"
        )
        found.append((why, loss.sum() / loss.shape[0]))
    found.append(
        ("a sum over the tokens: take the mean over the counted targets", loss.sum())
    )
    return found


def _check(out, expected, logits, labels, ignore_index, context):
    """dtype first (float32, with a named reason), then the value with the diagnosis."""
    assert_float32_mean_loss(out, logits, context)
    atol, rtol = tolerance(torch.float32)
    try:
        assert_close_diagnosed(
            out,
            expected.to(device=logits.device),
            lambda: _variants(logits, labels, ignore_index),
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
    """Half-precision logits: a loss right only to half precision was computed in it."""
    if logits.dtype not in (torch.float16, torch.bfloat16):
        return ""
    atol, rtol = tolerance(logits.dtype)
    a = out.detach().to("cpu", torch.float64).reshape(())
    if not matches(a, expected.detach().to("cpu", torch.float64), atol, rtol):
        return ""
    return likely_bug(
        [
            (
                f"the loss is right only to {logits.dtype} precision: it was computed in half "
                "precision and cast at the end; upcast the logits to float32 first (logits.float())"
            )
        ]
    )


def _call(impl, logits, input_ids, **kwargs):
    logits_before, ids_before = logits.clone(), input_ids.clone()
    out = call(impl.causal_lm_loss, logits, input_ids, **kwargs, what="causal_lm_loss")
    assert_unchanged(logits_before, logits, "logits")
    assert_unchanged(ids_before, input_ids, "input_ids")
    return out


def _pad(ids, lengths, value):
    """ids with positions at or after lengths[b] set to value (right padding)."""
    T = ids.shape[1]
    pad = torch.arange(T)[None, :] >= torch.as_tensor(lengths)[:, None]
    return ids.masked_fill(pad, value)


@pytest.mark.parametrize("shape", [(2, 7), (3, 5), (1, 2), (4, 9)], ids=str)
def test_matches_llama_loss(impl, device, shape):
    ids = _ids(*shape, seed=shape[1])
    logits, expected = _run(ids)
    logits = logits.to(device)
    out = _call(impl, logits, ids.to(device))
    _check(
        out,
        expected,
        logits,
        ids,
        -100,
        f"input_ids of shape {shape}, labels=input_ids",
    )


@pytest.mark.parametrize(
    "lengths", [[7, 3], [2, 9, 5], [9, 9, 4, 6]], ids=lambda v: "-".join(map(str, v))
)
def test_ignored_targets_in_rows_of_different_lengths(impl, device, lengths):
    B, T = len(lengths), max(lengths)
    ids = _ids(B, T, seed=B)
    labels = _pad(ids, lengths, -100)
    labels[0, 0] = -100  # never a target: only a mistaken shift would see it
    if B > 2:
        labels[1, 3] = -100  # an ignored target in the middle of a row
    logits, expected = _run(_pad(ids, lengths, 0), labels)
    logits = logits.to(device)
    out = _call(impl, logits, labels.to(device))
    _check(
        out,
        expected,
        logits,
        labels,
        -100,
        f"labels with -100 after lengths {lengths} (T={T})",
    )


def test_custom_ignore_index(impl, device):
    lengths = [8, 4, 6]
    ids = _ids(3, 8, seed=20).clamp(min=1)  # 0 is the padding id, nowhere else
    labels = _pad(ids, lengths, 0)
    logits, expected = _run(labels, labels, ignore_index=0)
    logits = logits.to(device)
    out = _call(impl, logits, labels.to(device), ignore_index=0)
    _check(
        out,
        expected,
        logits,
        labels,
        0,
        f"ignore_index=0 (padding id), lengths {lengths}",
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_logits_give_a_float32_loss(impl, device, dtype):
    ids = _ids(3, 8, seed=30)
    labels = _pad(ids, [8, 5, 6], -100)
    logits32, _ = _run(ids, labels)
    # Wider logits make half-precision arithmetic show.
    logits = (logits32 * 2).to(dtype)
    with torch.no_grad():
        expected = _model().loss_function(
            logits=logits, labels=labels, vocab_size=VOCAB
        )
    assert expected.dtype == torch.float32
    logits = logits.to(device)
    out = _call(impl, logits, labels.to(device))
    _check(out, expected, logits, labels, -100, f"{dtype} logits")


def test_large_logits_are_stable(impl, device):
    ids = _ids(2, 6, seed=40)
    logits32, _ = _run(ids)
    logits = logits32 * 60
    with torch.no_grad():
        expected = _model().loss_function(logits=logits, labels=ids, vocab_size=VOCAB)
    logits = logits.to(device)
    out = _call(impl, logits, ids.to(device))
    _check(out, expected, logits, ids, -100, "logits x60")


def test_gradients_reach_the_logits(impl, device):
    lengths = [6, 3]
    ids = _ids(2, 6, seed=50)
    labels = _pad(ids, lengths, -100)
    logits32, _ = _run(ids, labels)
    logits = logits32.clone().to(device).requires_grad_()
    out = _call(impl, logits, labels.to(device))
    assert isinstance(out, torch.Tensor) and out.requires_grad, (
        "the loss does not require grad: it must be computed from the logits (is it "
        "detached, or built from .item() / numpy?)"
    )
    out.backward()
    x64 = logits32.double().requires_grad_()
    ref = F.cross_entropy(x64[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
    ref.backward()
    assert logits.grad is not None, "no gradient reached the logits"
    assert_close(
        logits.grad,
        x64.grad.to(device=device, dtype=torch.float32),
        what="gradient of the logits (zero at the last position and where the next token "
        "is ignored)",
        atol=1e-6,
        rtol=1e-4,
    )
