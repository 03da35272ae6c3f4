"""Mutant (dodge): builds the model out of transformers' own Llama modules under an alias."""
# expect: uses banned `transformers.models`

import torch
from torch import nn
from transformers.models.llama import modeling_llama as ml


class Llama(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.model = ml.LlamaModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, input_ids, attention_mask=None):
        h = self.model(input_ids, attention_mask=attention_mask).last_hidden_state
        return self.lm_head(h)

    @torch.no_grad()
    def generate(self, input_ids, max_new_tokens):
        for _ in range(max_new_tokens):
            nxt = self(input_ids)[:, -1].argmax(-1, keepdim=True)
            input_ids = torch.cat([input_ids, nxt], 1)
        return input_ids
