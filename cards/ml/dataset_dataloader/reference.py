"""A map-style Dataset of variable-length sequences and the collate_fn that pads a batch of them
(the usual setup for RNN / Transformer batches before pack_padded_sequence or attention masks).

Left out: packing, sorting by length, bucketing samplers."""

import torch
from torch.utils.data import Dataset, default_collate


class PaddedSequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        assert len(sequences) == len(labels)
        self.sequences = sequences
        self.labels = labels

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, index):
        return self.sequences[index], self.labels[index]


def pad_collate(batch, pad_value=0):
    seqs = [seq for seq, _ in batch]
    # lengths: int64 on the CPU, whatever device the sequences live on
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.int64)
    # of this batch, not of the dataset
    longest = int(lengths.max()) if len(seqs) else 0
    first = seqs[0]
    padded = torch.full(
        (len(seqs), longest, *first.shape[1:]),
        pad_value,
        dtype=first.dtype,  # keep the sequences' dtype (token ids stay int64)
        device=first.device,
    )
    for i, s in enumerate(seqs):  # right padding, batch order kept
        padded[i, : s.shape[0]] = s
    labels = default_collate([label for _, label in batch])
    return padded, lengths, labels
