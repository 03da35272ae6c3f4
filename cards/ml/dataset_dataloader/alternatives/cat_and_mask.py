"""Vectorised: concatenate every sequence, then scatter them through a boolean mask of valid
positions (arange < lengths); labels stacked by hand for tensors, torch.tensor for numbers."""

import torch
from torch.utils.data import Dataset


class PaddedSequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        self.items = list(zip(sequences, labels))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def pad_collate(batch, pad_value=0):
    seqs, labs = zip(*batch)
    lengths = torch.tensor([s.size(0) for s in seqs]).long()
    feat = seqs[0].shape[1:]
    L = int(lengths.max().item())
    dev = seqs[0].device
    valid = torch.arange(L, device=dev)[None, :] < lengths.to(dev)[:, None]  # (B, L)
    out = torch.empty((len(seqs), L, *feat), dtype=seqs[0].dtype, device=dev)
    out.fill_(pad_value)
    # row-major order of valid = concatenation order
    out[valid] = torch.cat(seqs, dim=0)
    if isinstance(labs[0], torch.Tensor):
        labels = torch.stack(labs)
    else:
        # ints -> int64, floats -> float64, as default_collate
        labels = torch.tensor(labs)
        if labels.is_floating_point():
            labels = labels.to(torch.float64)
    return out, lengths, labels
