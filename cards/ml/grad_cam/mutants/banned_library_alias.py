# expect: uses banned `captum`
from captum.attr import LayerGradCam as Explainer


def grad_cam(model, target_layer, x, class_idx=None):
    # bug: not from scratch, a library's Grad-CAM
    return Explainer(model, target_layer).attribute(x, target=class_idx).squeeze(1)
