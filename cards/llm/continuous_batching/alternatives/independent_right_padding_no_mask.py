# Written independently of this card's verifier, from the contract alone.
# Continuous batching without a KV cache and without an attention mask: every step re-runs the
# model once on all active requests' full sequences, RIGHT-padded to the longest one. A causal LM's
# logits at position t depend only on tokens 0..t, so the padding after a row's last real token
# cannot change that row's next-token logits, and the model is called as model(input_ids) only
# (its output may be a tensor or have .logits). Waiting requests are admitted FIFO at the start of
# each step into free slots; each model call holds at most max_batch_size rows. A request with
# max_new_tokens == 0 finishes at its first step without a model call. Outputs keep the input's
# layout: a 1-D prompt gives a 1-D output, a (1, T) prompt a (1, T + n) output.
from collections import deque

import torch


class _Req:
    __slots__ = ("device", "dtype", "remaining", "rid", "shape1d", "tokens")

    def __init__(self, rid, input_ids, max_new_tokens):
        self.rid = rid
        self.shape1d = input_ids.dim() == 1
        flat = input_ids.reshape(-1)
        self.device, self.dtype = flat.device, flat.dtype
        self.tokens = flat.tolist()
        self.remaining = int(max_new_tokens)

    def result(self):
        t = torch.tensor(self.tokens, dtype=self.dtype, device=self.device)
        return t if self.shape1d else t.unsqueeze(0)


class ContinuousBatcher:
    def __init__(self, model, max_batch_size):
        self.model = model
        self.max_batch_size = int(max_batch_size)
        self.waiting = deque()
        self.active = []

    def add(self, request_id, input_ids, max_new_tokens):
        self.waiting.append(_Req(request_id, input_ids, max_new_tokens))

    @torch.no_grad()
    def step(self):
        while self.waiting and len(self.active) < self.max_batch_size:
            self.active.append(self.waiting.popleft())
        done = {}
        for r in [r for r in self.active if r.remaining <= 0]:
            done[r.rid] = r.result()
        self.active = [r for r in self.active if r.remaining > 0]
        if not self.active:
            return done
        lengths = [len(r.tokens) for r in self.active]
        L = max(lengths)
        dev = self.active[0].device
        batch = torch.zeros(len(self.active), L, dtype=torch.long, device=dev)
        for i, r in enumerate(self.active):
            batch[i, : lengths[i]] = torch.tensor(
                r.tokens, dtype=torch.long, device=dev
            )
        out = self.model(batch)
        logits = out.logits if hasattr(out, "logits") else out
        last = torch.tensor(lengths, device=logits.device) - 1
        nxt = (
            logits[torch.arange(len(self.active), device=logits.device), last]
            .argmax(-1)
            .tolist()
        )
        still = []
        for r, tok in zip(self.active, nxt):
            r.tokens.append(int(tok))
            r.remaining -= 1
            if r.remaining == 0:
                done[r.rid] = r.result()
            else:
                still.append(r)
        self.active = still
        return done

    def run(self):
        finished = {}
        while self.active or self.waiting:
            finished.update(self.step())
        return finished
