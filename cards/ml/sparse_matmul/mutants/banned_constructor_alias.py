# expect: uses banned `torch.sparse_coo_tensor`
from torch import sparse_coo_tensor as coo


def coo_matmul(indices, values, shape, dense):
    # bug: not from scratch, a real sparse tensor and its matmul
    return coo(indices, values, tuple(shape)) @ dense
