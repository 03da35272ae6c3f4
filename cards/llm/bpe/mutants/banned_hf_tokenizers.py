"""Mutant (dodge): Hugging Face's `tokenizers` BPE under an alias."""
# expect: uses banned `tokenizers`

import tokenizers as tk


class BPETokenizer:
    def __init__(self):
        self.merges: dict[tuple[int, int], int] = {}
        self._tok = tk.Tokenizer(tk.models.BPE())

    def train(self, text: str, vocab_size: int) -> None:
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size)
        self._tok.train_from_iterator([text], trainer)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)
