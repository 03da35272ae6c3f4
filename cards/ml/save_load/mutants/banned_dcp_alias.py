# expect: uses banned `torch.distributed.checkpoint`
import torch
from torch.distributed import checkpoint as dcp


def save_checkpoint(path, model, optimizer, epoch):
    dcp.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, checkpoint_id=path)
    torch.save(epoch, str(path) + ".epoch")


def load_checkpoint(path, model, optimizer):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    dcp.load(state, checkpoint_id=path)
    return torch.load(str(path) + ".epoch")
