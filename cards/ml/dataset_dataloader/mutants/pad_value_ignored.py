# expect: pad_value was ignored
import torch
from torch.utils.data import Dataset, default_collate


class PaddedSequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        self.sequences, self.labels = sequences, labels

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, index):
        return self.sequences[index], self.labels[index]


def pad_collate(batch, pad_value=0):
    seqs = [s for s, _ in batch]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    out = seqs[0].new_zeros((len(seqs), int(lengths.max()), *seqs[0].shape[1:]))  # bug
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths, default_collate([lab for _, lab in batch])
