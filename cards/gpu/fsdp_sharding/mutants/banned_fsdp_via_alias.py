# expect: uses banned
from torch import nn
from torch.distributed.fsdp import FullyShardedDataParallel as Sharded


class FSDP(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.inner = Sharded(module, use_orig_params=False)

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)
