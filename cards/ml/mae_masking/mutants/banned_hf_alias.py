# expect: uses banned
from types import SimpleNamespace

from transformers.models.vit_mae import modeling_vit_mae as mae


def random_masking(x, mask_ratio, noise=None):
    # bug: not from scratch, transformers' own method
    owner = SimpleNamespace(config=SimpleNamespace(mask_ratio=mask_ratio))
    return mae.ViTMAEEmbeddings.random_masking(owner, x, noise)
