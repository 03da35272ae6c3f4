# expect: was not restored into the model passed in
import torch


def save_checkpoint(path, model, optimizer, epoch):
    torch.save({"model": model, "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path, model, optimizer):
    ckpt = torch.load(path, weights_only=False)
    model = ckpt["model"]  # bug: rebinds a local name; the caller's model is unchanged
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["epoch"]
