"""Mutant: pair counts taken once before the loop and never recomputed after a merge."""
# expect: stale count


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
        counts: dict[tuple[int, int], int] = {}
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + 1
        for new_id in range(256, vocab_size):
            if len(ids) < 2 or not counts:
                break
            pair = max(counts, key=counts.get)
            del counts[pair]  # bug: the other counts are never refreshed after the merge
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
