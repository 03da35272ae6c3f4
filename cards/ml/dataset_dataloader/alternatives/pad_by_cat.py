# By the card's author.
# Each sequence is extended with a block of pad_value by torch.cat, then the padded rows are
# stacked; labels through default_collate.
import torch
from torch.utils.data import Dataset, default_collate


class PaddedSequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        if len(sequences) != len(labels):
            raise ValueError("sequences and labels differ in length")
        self.sequences = list(sequences)
        self.labels = list(labels)

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, idx):
        return (self.sequences[idx], self.labels[idx])


def pad_collate(batch, pad_value=0):
    seqs = [b[0] for b in batch]
    max_len = 0
    for s in seqs:
        max_len = max(max_len, s.shape[0])
    rows = []
    for s in seqs:
        filler = torch.full(
            (max_len - s.shape[0],) + tuple(s.shape[1:]),
            pad_value,
            dtype=s.dtype,
            device=s.device,
        )
        rows.append(torch.cat([s, filler], dim=0))
    padded = torch.stack(rows, dim=0)
    lengths = torch.as_tensor(
        [s.shape[0] for s in seqs], dtype=torch.long, device="cpu"
    )
    return padded, lengths, default_collate([b[1] for b in batch])
