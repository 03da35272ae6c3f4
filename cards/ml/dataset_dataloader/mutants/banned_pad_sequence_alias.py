# expect: uses banned `torch.nn.utils.rnn.pad_sequence`
import torch
from torch.nn.utils import rnn as R
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
    padded = R.pad_sequence(seqs, batch_first=True, padding_value=pad_value)  # not from scratch
    return padded, lengths, default_collate([lab for _, lab in batch])
