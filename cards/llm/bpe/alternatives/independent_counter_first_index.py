# Written independently of this card's verifier, from the contract alone.
# Byte-level BPE. Training recounts every (overlapping) adjacent pair each round with a Counter and
# records each pair's first index in the current sequence; the winner is the highest count, ties
# to the smallest first index. Encoding replays the merges in training order over the whole
# sequence (equivalent to "merge the lowest-ranked pair present" since a merge never creates a pair
# of lower rank). Decoding joins the byte strings and decodes UTF-8 with errors="replace".
from collections import Counter


def _replace(seq, pair, new_id):
    out, i, n = [], 0, len(seq)
    a, b = pair
    while i < n:
        if i + 1 < n and seq[i] == a and seq[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


class BPETokenizer:
    def __init__(self):
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}

    def train(self, text, vocab_size):
        seq = list(text.encode("utf-8"))
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}
        for new_id in range(256, vocab_size):
            if len(seq) < 2:
                break
            counts, first = Counter(), {}
            for i in range(len(seq) - 1):
                p = (seq[i], seq[i + 1])
                counts[p] += 1
                if p not in first:
                    first[p] = i
            best = max(counts, key=lambda p: (counts[p], -first[p]))
            self.merges[best] = new_id
            self.vocab[new_id] = self.vocab[best[0]] + self.vocab[best[1]]
            seq = _replace(seq, best, new_id)
        return self

    def encode(self, text):
        seq = list(text.encode("utf-8"))
        for pair, new_id in sorted(self.merges.items(), key=lambda kv: kv[1]):
            if len(seq) < 2:
                break
            seq = _replace(seq, pair, new_id)
        return seq

    def decode(self, ids):
        vocab = {i: bytes([i]) for i in range(256)}
        for (a, b), new_id in sorted(self.merges.items(), key=lambda kv: kv[1]):
            vocab[new_id] = vocab[a] + vocab[b]
        return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
