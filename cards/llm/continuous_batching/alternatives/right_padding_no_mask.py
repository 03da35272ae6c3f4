"""Alternative: right padding with no attention mask at all (causal attention never lets a
real token see the padding after it), each row read at its own last real token with gather,
token lists in plain Python between steps."""

import torch


class ContinuousBatcher:
    def __init__(self, model, max_batch_size):
        self.model = model
        self.max_batch_size = max_batch_size
        self.queue = []
        self.active = []

    def add(self, request_id, input_ids, max_new_tokens):
        self.queue.append(
            {
                "id": request_id,
                "tokens": input_ids.reshape(-1).tolist(),
                "left": max_new_tokens,
                "shape2d": input_ids.dim() == 2,
                "device": input_ids.device,
            }
        )

    def step(self):
        free = self.max_batch_size - len(self.active)
        self.active += self.queue[:free]
        self.queue = self.queue[free:]
        if not self.active:
            return {}
        lengths = [len(r["tokens"]) for r in self.active]
        width = max(lengths)
        device = self.active[0]["device"]
        batch = torch.tensor(
            [r["tokens"] + [0] * (width - len(r["tokens"])) for r in self.active],
            device=device,
        )
        with torch.no_grad():
            logits = self.model(batch).logits
        last = torch.tensor(lengths, device=device) - 1
        rows = logits.gather(
            1, last.view(-1, 1, 1).expand(-1, 1, logits.shape[-1])
        ).squeeze(1)
        done = {}
        for r, tok in zip(self.active, rows.argmax(-1).tolist()):
            r["tokens"].append(tok)
            r["left"] -= 1
            if r["left"] == 0:
                out = torch.tensor(r["tokens"], device=r["device"])
                done[r["id"]] = out.unsqueeze(0) if r["shape2d"] else out
        self.active = [r for r in self.active if r["left"] > 0]
        return done

    def run(self):
        done = {}
        while self.queue or self.active:
            done.update(self.step())
        return done
