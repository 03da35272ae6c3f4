# expect: uses banned `transformers`
from torch import nn
from transformers.models.llama.modeling_llama import LlamaConfig, LlamaMLP


class SwiGLU(nn.Module):
    def __init__(self, dim, hidden_dim, bias=False):
        super().__init__()
        # bug: not from scratch, Hugging Face's own MLP
        config = LlamaConfig(hidden_size=dim, intermediate_size=hidden_dim, mlp_bias=bias)
        self.mlp = LlamaMLP(config)
        self.gate_proj, self.up_proj = self.mlp.gate_proj, self.mlp.up_proj
        self.down_proj = self.mlp.down_proj

    def forward(self, x):
        return self.mlp(x)
