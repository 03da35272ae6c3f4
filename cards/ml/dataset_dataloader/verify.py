"""Verifier for PaddedSequenceDataset / pad_collate, used through a real DataLoader with an
explicit sampler order (so that a collate that reorders the batch shows), against a padded batch
built here element by element: shapes, dtype, device, pad value, right padding, lengths (int64 on
the CPU) and labels equal to default_collate's, with empty sequences, trailing feature dims,
non-contiguous sequences and a batch whose sequences are all empty."""

import functools

import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from cards.checks import assert_unchanged, call, generator


def _sequences(lengths, feature_shape, dtype, device, seed):
    g = generator(seed)
    out = []
    for i, n in enumerate(lengths):
        if dtype.is_floating_point:
            s = torch.randn((n, *feature_shape), generator=g, dtype=torch.float64) + 3
        else:
            s = torch.randint(1, 50, (n, *feature_shape), generator=g)
        s = s.to(device=device, dtype=dtype)
        # a non-contiguous view with the same values
        if i % 2 and s.dim() == 2 and n > 1:
            s = s.t().contiguous().t()
        out.append(s)
    return out


def _expected(batch, pad_value):
    """(padded, lengths) built element by element: right padding, batch order kept."""
    seqs = [s for s, _ in batch]
    longest = max(s.shape[0] for s in seqs)
    padded = torch.empty((len(seqs), longest, *seqs[0].shape[1:]), dtype=seqs[0].dtype)
    padded.fill_(pad_value)
    for i, s in enumerate(seqs):
        for t in range(s.shape[0]):
            padded[i, t] = s[t].cpu()
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.int64)
    return padded.to(seqs[0].device), lengths


def _variants(batch, pad_value):
    """{a mistake in the user's words: (padded, lengths) it gives}."""
    seqs = [s.cpu() for s, _ in batch]
    longest = max(s.shape[0] for s in seqs)
    shape = (len(seqs), longest, *seqs[0].shape[1:])
    left = torch.full(shape, pad_value, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        if s.shape[0]:
            left[i, longest - s.shape[0] :] = s
    order = sorted(range(len(seqs)), key=lambda i: -seqs[i].shape[0])
    padded, lengths = _expected([(s, None) for s in seqs], pad_value)
    zeros, _ = _expected([(s, None) for s in seqs], 0)
    return {
        "the sequences were padded on the left: pad on the right (each sequence starts at "
        "position 0, padding fills the end)": (left, lengths),
        "the batch was sorted by length: keep the order the DataLoader gave (row i is the "
        "batch's i-th sample, as its label is)": (padded[order], lengths[order]),
        "pad_value was ignored (the padding is 0): fill the padding with pad_value": (
            zeros,
            lengths,
        ),
    }


def _check_batch(out, batch, pad_value, global_longest, context):
    ctx = f" [{context}]"
    assert isinstance(out, (tuple, list)) and len(out) == 3, (
        f"pad_collate{ctx}: expected a tuple (padded, lengths, labels), got "
        f"{type(out).__name__}"
        + (f" of {len(out)}" if isinstance(out, (tuple, list)) else "")
    )
    padded, lengths, labels = out
    want_padded, want_lengths = _expected(batch, pad_value)
    variants = _variants(batch, pad_value)
    assert isinstance(padded, torch.Tensor), f"padded{ctx}: expected a tensor"
    longest = want_padded.shape[1]
    if padded.dim() == want_padded.dim() and padded.shape[1] != longest:
        why = (
            f" (the longest sequence of the whole dataset, {global_longest}): pad to the "
            f"longest sequence of this batch, {longest}"
            if padded.shape[1] == global_longest
            else ""
        )
        raise AssertionError(
            f"padded{ctx}: shape expected {tuple(want_padded.shape)} (batch, longest of "
            f"the batch, *features), got {tuple(padded.shape)}: padded to length "
            f"{padded.shape[1]}{why}"
        )
    assert padded.shape == want_padded.shape, (
        f"padded{ctx}: shape expected {tuple(want_padded.shape)} (batch-first: batch, longest "
        f"of the batch, *features), got {tuple(padded.shape)}"
    )
    assert padded.dtype == want_padded.dtype, (
        f"padded{ctx}: dtype expected {want_padded.dtype}, got {padded.dtype}: create the "
        "padded tensor with the sequences' dtype (torch.zeros / torch.full default to float32)"
    )
    assert padded.device.type == want_padded.device.type, (
        f"padded{ctx}: device expected {want_padded.device.type} (the sequences' device), "
        f"got {padded.device.type}"
    )
    got = padded.detach().cpu()
    if not torch.equal(got, want_padded.cpu()):
        named = [w for w, (p, _) in variants.items() if torch.equal(got, p)]
        bad = (got != want_padded.cpu()).nonzero()[0].tolist()
        raise AssertionError(
            f"padded{ctx}: wrong values, first at index {tuple(bad)}: got "
            f"{got[tuple(bad)].item()}, expected {want_padded.cpu()[tuple(bad)].item()}"
            + "".join(f"\nlikely bug: {w}" for w in named)
        )
    assert isinstance(lengths, torch.Tensor), (
        f"lengths{ctx}: expected an int64 tensor, got {type(lengths).__name__}"
    )
    assert lengths.dtype == torch.int64 and lengths.device.type == "cpu", (
        f"lengths{ctx}: expected int64 on the CPU (as pack_padded_sequence wants), got "
        f"{lengths.dtype} on {lengths.device.type}"
    )
    assert lengths.shape == want_lengths.shape and torch.equal(lengths, want_lengths), (
        f"lengths{ctx}: expected {want_lengths.tolist()} (each sequence's own length, in batch "
        f"order), got {lengths.tolist()}"
    )
    want_labels = default_collate([label for _, label in batch])
    assert isinstance(labels, torch.Tensor), (
        f"labels{ctx}: expected a tensor, got {type(labels).__name__}: combine the labels as "
        "default_collate does (ints give an int64 tensor, floats float64, tensors are stacked)"
    )
    assert labels.dtype == want_labels.dtype and labels.shape == want_labels.shape, (
        f"labels{ctx}: expected {want_labels.dtype} of shape {tuple(want_labels.shape)}, got "
        f"{labels.dtype} of shape {tuple(labels.shape)}: combine them as default_collate does "
        "(and let dataset[i] return each label as it was given)"
    )
    assert labels.device.type == want_labels.device.type, (
        f"labels{ctx}: device expected {want_labels.device.type}, got {labels.device.type}"
    )
    assert torch.equal(labels.cpu(), want_labels.cpu()), (
        f"labels{ctx}: expected {want_labels.tolist()}, got {labels.tolist()} (batch order)"
    )


def _loader(impl, sequences, labels, batch_size, order, **collate_kwargs):
    dataset = call(impl.PaddedSequenceDataset, sequences, labels)
    collate = functools.partial(impl.pad_collate, **collate_kwargs)
    return dataset, DataLoader(
        dataset, batch_size=batch_size, sampler=order, collate_fn=collate
    )


def test_dataset_items(impl, device):
    seqs = _sequences([3, 0, 5, 2], (2,), torch.float32, device, seed=1)
    labels = [4, 1, 0, 2]
    dataset = call(impl.PaddedSequenceDataset, seqs, labels)
    assert len(dataset) == 4, f"len(dataset): expected 4, got {len(dataset)}"
    for i in (2, 0, 1, 3):
        item = dataset[i]
        assert isinstance(item, tuple) and len(item) == 2, (
            f"dataset[{i}]: expected a tuple (seq, label), got {type(item).__name__}"
        )
        seq, label = item
        assert isinstance(seq, torch.Tensor) and seq.shape == seqs[i].shape, (
            f"dataset[{i}]: expected the sequence of shape {tuple(seqs[i].shape)}"
        )
        # the device first: torch.equal raises on tensors of two devices
        assert seq.device.type == device and torch.equal(seq, seqs[i]), (
            f"dataset[{i}]: the sequence is not sequences[{i}]"
        )
        assert label == labels[i], (
            f"dataset[{i}]: label expected {labels[i]}, got {label}"
        )


CASES = {
    "float features (L, 3), pad -1.5, int labels": {
        "lengths": [4, 0, 7, 1, 3, 5, 2],
        "features": (3,),
        "dtype": torch.float32,
        "labels": [3, 0, 2, 1, 1, 4, 0],
        "pad": {"pad_value": -1.5},
    },
    "int64 token ids (L,), default pad 0, 0-dim tensor labels": {
        "lengths": [5, 2, 0, 6, 3, 1, 4],
        "features": (),
        "dtype": torch.int64,
        "labels": [torch.tensor(i % 3) for i in range(7)],
        "pad": {},
    },
    "float64 (L, 2, 2), pad 7, float labels": {
        "lengths": [2, 6, 1, 3, 0, 4, 5],
        "features": (2, 2),
        "dtype": torch.float64,
        "labels": [0.5 * i for i in range(7)],
        "pad": {"pad_value": 7},
    },
    "int32 (L, 2), pad -1, vector labels": {
        "lengths": [3, 1, 4, 1, 5, 0, 2],
        "features": (2,),
        "dtype": torch.int32,
        "labels": [torch.tensor([i, -i], dtype=torch.float32) for i in range(7)],
        "pad": {"pad_value": -1},
    },
}


@pytest.mark.parametrize("case", list(CASES), ids=range(len(CASES)))
def test_dataloader_batches(impl, device, case):
    c = CASES[case]
    seqs = _sequences(c["lengths"], c["features"], c["dtype"], device, seed=len(case))
    labels = c["labels"]
    labels = [
        lab.to(device) if isinstance(lab, torch.Tensor) else lab for lab in labels
    ]
    before = [s.clone() for s in seqs]
    order = [5, 2, 0, 6, 3, 1, 4]
    _, loader = _loader(impl, seqs, labels, 3, order, **c["pad"])
    pad_value = c["pad"].get("pad_value", 0)
    got = list(loader)
    assert len(got) == 3, f"[{case}] expected 3 batches of 3, 3 and 1, got {len(got)}"
    for k, out in enumerate(got):
        idx = order[3 * k : 3 * k + 3]
        batch = [(seqs[i], labels[i]) for i in idx]
        _check_batch(out, batch, pad_value, max(c["lengths"]), f"{case}, batch {k}")
    for i, (b, s) in enumerate(zip(before, seqs)):
        assert_unchanged(b, s, f"sequences[{i}]")


def test_direct_call_and_all_empty_batch(impl, device):
    seqs = _sequences([0, 0], (4,), torch.float32, device, seed=3)
    batch = [(seqs[0], 1), (seqs[1], 0)]
    out = call(impl.pad_collate, batch, pad_value=2.0, what="pad_collate")
    _check_batch(out, batch, 2.0, 0, "every sequence of the batch is empty")
    seqs = _sequences([2, 9, 4], (), torch.float32, device, seed=4)
    batch = [(s, i) for i, s in enumerate(seqs)]
    out = call(impl.pad_collate, batch, what="pad_collate")
    _check_batch(out, batch, 0, 9, "direct call, default pad_value")
