# Written from the contract alone, by a writer who had not read this card's verifier.
import torch
from torch.utils.data import Dataset, default_collate


class PaddedSequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        if len(sequences) != len(labels):
            raise ValueError("sequences and labels must have the same length")
        self.sequences = list(sequences)
        self.labels = labels

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, idx):
        return self.sequences[idx], self.labels[idx]


def pad_collate(batch, pad_value=0):
    """Right-pad each sequence by concatenating a block of pad_value to it,
    then stack (rather than writing into a preallocated buffer)."""
    seqs = [torch.as_tensor(s) for s, _ in batch]
    labels = [lab for _, lab in batch]
    lengths = [int(s.shape[0]) for s in seqs]
    max_len = max(lengths) if lengths else 0
    padded_rows = []
    for s, L in zip(seqs, lengths):
        tail = s.new_full((max_len - L,) + tuple(s.shape[1:]), pad_value)
        padded_rows.append(torch.cat([s, tail], dim=0))
    padded = torch.stack(padded_rows, dim=0)
    lengths_t = torch.tensor(lengths, dtype=torch.int64, device="cpu")
    return padded, lengths_t, default_collate(labels)
