"""Alternative: left padding with an attention mask and explicit position ids counted from each
row's first real token (as Hugging Face's generate does), keyword arguments, a pad id of 1,
and the batch kept as one tensor per request grown with torch.cat."""

import torch


class ContinuousBatcher:
    PAD = 1

    def __init__(self, model, max_batch_size):
        self.model = model
        self.max_batch_size = max_batch_size
        self.pending = []
        self.slots = []

    def add(self, request_id, input_ids, max_new_tokens):
        self.pending.append((request_id, input_ids, max_new_tokens))

    def _admit(self):
        while self.pending and len(self.slots) < self.max_batch_size:
            rid, ids, n = self.pending.pop(0)
            self.slots.append(
                {"rid": rid, "seq": ids.view(-1), "budget": n, "two_d": ids.dim() == 2}
            )

    @torch.no_grad()
    def step(self):
        self._admit()
        if not self.slots:
            return {}
        width = max(s["seq"].numel() for s in self.slots)
        rows, masks = [], []
        for s in self.slots:
            pad = width - s["seq"].numel()
            rows.append(torch.cat([s["seq"].new_full((pad,), self.PAD), s["seq"]]))
            masks.append(
                torch.cat(
                    [s["seq"].new_zeros(pad), s["seq"].new_ones(s["seq"].numel())]
                )
            )
        input_ids, attention_mask = torch.stack(rows), torch.stack(masks)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
        )
        chosen = out.logits[:, -1, :].argmax(-1, keepdim=True)  # (B, 1)
        finished = {}
        keep = []
        for s, tok in zip(self.slots, chosen):
            s["seq"] = torch.cat([s["seq"], tok])
            s["budget"] -= 1
            if s["budget"] > 0:
                keep.append(s)
            else:
                finished[s["rid"]] = s["seq"][None] if s["two_d"] else s["seq"]
        self.slots = keep
        return finished

    def run(self):
        result = {}
        while True:
            result |= self.step()
            if not self.slots and not self.pending:
                return result
