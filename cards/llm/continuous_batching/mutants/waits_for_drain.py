# expect: for the running batch to drain
"""Mutant: admits waiting requests only once the running batch is empty (static batching)."""

from collections import deque

import torch


class ContinuousBatcher:
    def __init__(self, model, max_batch_size: int):
        self.model = model
        self.max_batch_size = max_batch_size
        self.waiting = deque()  # (request_id, 1-D tokens, max_new_tokens, was_2d), FIFO
        self.running = []  # [request_id, 1-D tokens so far, tokens still to generate, was_2d]

    def add(self, request_id, input_ids: torch.Tensor, max_new_tokens: int):
        was_2d = input_ids.dim() == 2
        tokens = input_ids.reshape(-1).clone()  # never touch the caller's tensor
        self.waiting.append((request_id, tokens, max_new_tokens, was_2d))

    @torch.no_grad()
    def step(self) -> dict:
        # 1. Admit waiting requests into free slots, at the start of the step.
        if not self.running:  # a new batch starts only when the last one is done
            while self.waiting and len(self.running) < self.max_batch_size:
                request_id, tokens, n, was_2d = self.waiting.popleft()
                self.running.append([request_id, tokens, n, was_2d])
        if not self.running:
            return {}

        # 2. One call on the padded batch. Left padding puts every row's last token in the
        #    last column; the mask keeps real tokens from attending to the padding.
        L = max(len(r[1]) for r in self.running)
        device = self.running[0][1].device
        ids = torch.zeros(len(self.running), L, dtype=torch.long, device=device)
        mask = torch.zeros_like(ids)
        for row, (_, tokens, _, _) in enumerate(self.running):
            ids[row, L - len(tokens) :] = tokens
            mask[row, L - len(tokens) :] = 1
        logits = self.model(ids, attention_mask=mask).logits  # (B, L, V)
        next_tokens = logits[:, -1].argmax(dim=-1)  # (B,)

        # 3. Append one token to each; the requests that are done leave the batch.
        finished, still_running = {}, []
        for r, token in zip(self.running, next_tokens):
            r[1] = torch.cat([r[1], token.view(1)])
            r[2] -= 1
            if r[2] == 0:
                finished[r[0]] = r[1].view(1, -1) if r[3] else r[1]
            else:
                still_running.append(r)
        self.running = still_running
        return finished

    def run(self) -> dict:
        finished = {}
        while self.waiting or self.running:
            finished.update(self.step())
        return finished
