# expect: uses banned `torchvision.transforms`
import torch
from torchvision import transforms as T


def random_crop_flip(images, size, generator):
    aug = T.Compose([T.RandomCrop(size), T.RandomHorizontalFlip()])
    return torch.stack([aug(img) for img in images])
