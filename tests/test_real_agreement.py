"""Our Eigen-CAM and Layer-CAM against pytorch-grad-cam's, on EfficientNet-Lite0 and bundled
photos."""

from __future__ import annotations

import pytest
import torch

from baselines import EigenCAM, LayerCAM, PytorchGradCAM
from clustercam.cam_method import capture_output
from clustercam.map_ops import minmax_normalize, upsample

pytestmark = pytest.mark.slow
pytest.importorskip("pytorch_grad_cam", reason="optional: pip install '.[adapters]'")

# Three photos; on baboon, pytorch-grad-cam's sign of the principal component (LAPACK's, so it may
# vary with the build) was the other one when this test was written.
def agreement_up_to_sign(make, library_name, zoo, images):
    """Pearson of pytorch-grad-cam's map with ours or with ours of the negated activations (the
    other sign of a principal component), whichever is higher; ours; the activations. The library
    method must cost one forward pass and no backward pass."""
    method = make(zoo.model, zoo.target_layer)
    ours = method(images)
    theirs = PytorchGradCAM(zoo.model, zoo.target_layer, library_name)(images)
    with torch.no_grad(), capture_output(method.layer) as hooked:
        zoo.model(images)
    activations = hooked.output
    flipped = minmax_normalize(
        upsample(method.saliency(images, ours.classes, None, -activations).float(), (224, 224)),
        over=(-2, -1),
    )
    agreement = torch.maximum(pearson(ours.maps, theirs.maps), pearson(flipped, theirs.maps))
    assert (theirs.cost.forward, theirs.cost.backward) == (1, 0)  # one pass, no gradient
    return agreement, ours, activations


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def test_layercam_agrees_with_pytorch_grad_cam(lite0_and_images):
    zoo, images = lite0_and_images
    ours = LayerCAM(zoo.model, zoo.target_layer)(images)
    theirs = PytorchGradCAM(zoo.model, zoo.target_layer, "LayerCAM")(images)
    assert torch.equal(ours.classes, theirs.classes)
    assert (pearson(ours.maps, theirs.maps) >= 0.99).all()
    assert (theirs.cost.forward, theirs.cost.backward) == (1, 1)


def test_eigencam_agrees_with_pytorch_grad_cam_up_to_its_sign(lite0_and_images):
    """Same centred SVD; pytorch-grad-cam keeps whatever sign LAPACK returns, we fix it so that the
    map rises with the channel sum. Its map is therefore ours or ours of the flipped projection
    (Eigen-CAM of the negated activations), and ours always correlates with the channel sum."""
    zoo, images = lite0_and_images
    agreement, ours, activations = agreement_up_to_sign(EigenCAM, "EigenCAM", zoo, images)
    assert (agreement >= 0.99).all(), agreement
    channel_sum = upsample(activations.sum(1), (224, 224))
    assert (pearson(ours.maps, channel_sum) > 0).all()
