# expect: uses banned `transformers`
"""Mutant (dodge): hands the requests to Hugging Face's own continuous batching
(`generate_batch`) through an alias; must come out `banned`."""

from transformers.generation import continuous_batching as hf_cb


class ContinuousBatcher:
    def __init__(self, model, max_batch_size):
        self.model = model
        self.max_batch_size = max_batch_size
        self.requests = {}

    def add(self, request_id, input_ids, max_new_tokens):
        self.requests[request_id] = (input_ids, max_new_tokens)

    def step(self):
        return self.run()

    def run(self):
        runner = getattr(self.model, "wrapped", self.model)
        done = {}
        for rid, (ids, n) in self.requests.items():
            out = hf_cb.ContinuousMixin.generate_batch(runner, [ids.reshape(-1).tolist()])
            done[rid] = out
        self.requests = {}
        return done
