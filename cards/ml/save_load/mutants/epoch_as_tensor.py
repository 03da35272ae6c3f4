# expect: the saved epoch as an int
import torch


def save_checkpoint(path, model, optimizer, epoch):
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    state["epoch"] = torch.tensor(epoch)  # bug: comes back as a tensor
    torch.save(state, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["epoch"]
