"""Mutant: ties broken by the smallest pair (sorting by (-count, pair)) instead of first occurrence."""
# expect: lexicographically smallest pair


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair`, scanning left to right ("aaa" -> [X, a])."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    def __init__(self):
        self.merges: dict[tuple[int, int], int] = {}
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}

    def train(self, text: str, vocab_size: int) -> None:
        ids = list(text.encode("utf-8"))
        for new_id in range(256, vocab_size):
            if len(ids) < 2:
                break
            # The subtlety: recount on the current sequence after every merge. A dict keeps
            # insertion order, so max() returns, among the tied pairs, the one seen first.
            counts: dict[tuple[int, int], int] = {}
            for pair in zip(ids, ids[1:]):  # overlapping: "aaa" has two (a, a)
                counts[pair] = counts.get(pair, 0) + 1
            pair = min(counts, key=lambda p: (-counts[p], p))  # bug: ties by pair order
            ids = _merge(ids, pair, new_id)
            self.merges[pair] = new_id
            self.vocab[new_id] = self.vocab[pair[0]] + self.vocab[pair[1]]

    def encode(self, text: str) -> list[int]:
        ids = list(text.encode("utf-8"))
        while len(ids) >= 2:
            # The lowest-ranked (earliest learned) merge present goes first, as in training.
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = _merge(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids: list[int]) -> str:
        # Join the bytes first: a token may hold part of a multi-byte character.
        data = b"".join(self.vocab[i] for i in ids)
        return data.decode("utf-8", errors="replace")
