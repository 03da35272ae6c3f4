"""Tokens held as bytes objects; ties decided by an explicit first-position index; encode
ranks each adjacent pair through a dict of byte strings; the vocabulary rebuilt on decode."""

import itertools


class BPETokenizer:
    def __init__(self):
        self.merges: dict[tuple[int, int], int] = {}

    def _bytes_of(self):
        table = {i: bytes([i]) for i in range(256)}
        for (a, b), new in sorted(self.merges.items(), key=lambda kv: kv[1]):
            table[new] = table[a] + table[b]
        return table

    def train(self, text: str, vocab_size: int) -> None:
        self.merges = {}
        seq = [bytes([b]) for b in text.encode("utf-8")]
        ident = {bytes([i]): i for i in range(256)}
        next_id = 256
        while next_id < vocab_size and len(seq) >= 2:
            count, first = {}, {}
            for pos in range(len(seq) - 1):
                key = (seq[pos], seq[pos + 1])
                count[key] = count.get(key, 0) + 1
                first.setdefault(key, pos)
            best = min(count, key=lambda k: (-count[k], first[k]))
            joined = best[0] + best[1]
            ident[joined] = next_id
            self.merges[(ident[best[0]], ident[best[1]])] = next_id
            out, pos = [], 0
            while pos < len(seq):
                if pos + 1 < len(seq) and (seq[pos], seq[pos + 1]) == best:
                    out.append(joined)
                    pos += 2
                else:
                    out.append(seq[pos])
                    pos += 1
            seq = out
            next_id += 1

    def encode(self, text: str) -> list[int]:
        ids = list(text.encode("utf-8"))
        while True:
            ranked = [
                (self.merges[p], k)
                for k, p in enumerate(itertools.pairwise(ids))
                if p in self.merges
            ]
            if not ranked:
                return ids
            new, _ = min(ranked)
            pair = next(p for p, v in self.merges.items() if v == new)
            out, k = [], 0
            while k < len(ids):
                if k + 1 < len(ids) and (ids[k], ids[k + 1]) == pair:
                    out.append(new)
                    k += 2
                else:
                    out.append(ids[k])
                    k += 1
            ids = out

    def decode(self, ids: list[int]) -> str:
        table = self._bytes_of()
        return b"".join(table[i] for i in ids).decode("utf-8", errors="replace")
