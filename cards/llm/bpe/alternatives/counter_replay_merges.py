"""Counter.most_common (stable, so ties keep first-occurrence order); encode replays every
merge in id order over the whole sequence, which equals merging by rank; decode through a
bytearray."""

import itertools
from collections import Counter


def merge_pair(ids, pair, idx):
    out = []
    i = 0
    n = len(ids)
    while i < n:
        if i < n - 1 and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(idx)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    def __init__(self):
        self.merges = {}
        self.vocab = [bytes([b]) for b in range(256)]

    def train(self, text, vocab_size):
        ids = list(text.encode("utf-8"))
        while len(self.vocab) < vocab_size and len(ids) > 1:
            ((pair, _),) = Counter(itertools.pairwise(ids)).most_common(1)
            idx = len(self.vocab)
            self.merges[pair] = idx
            self.vocab.append(self.vocab[pair[0]] + self.vocab[pair[1]])
            ids = merge_pair(ids, pair, idx)

    def encode(self, text):
        ids = list(text.encode("utf-8"))
        # A merge can only create pairs involving its new id, whose merges come later: so
        # replaying the merges in order is the same as always taking the lowest rank.
        for pair, idx in sorted(self.merges.items(), key=lambda kv: kv[1]):
            if len(ids) < 2:
                break
            ids = merge_pair(ids, pair, idx)
        return ids

    def decode(self, ids):
        buf = bytearray()
        for i in ids:
            buf += self.vocab[i]
        return bytes(buf).decode("utf-8", "replace")
