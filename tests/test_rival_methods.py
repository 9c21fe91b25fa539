"""The rival methods (HiResCAM, XGrad-CAM, Recipro-CAM, FEM, KPCA-CAM) against closed forms on toy
models, exact forward/backward/tail counts, batch- and chunk-size invariance, clear errors for bad
options, and (slow) agreement with pytorch-grad-cam on EfficientNet-Lite0 and bundled photos."""

from __future__ import annotations

import pytest
import torch
from sklearn.decomposition import KernelPCA
from test_methods import region_images
from torch import nn
from toys import LinearGapModel, RegionModel, TinyNet

from baselines import (
    CFCAM,
    FEM,
    KPCACAM,
    GradCAM,
    HiResCAM,
    OptiCAM,
    PytorchGradCAM,
    ReciproCAM,
    XGradCAM,
)
from clustercam.cam_method import CAMMethod, capture_output
from clustercam.map_ops import minmax_normalize, upsample


def gap_toy(seed: int = 1, channels: int = 4, classes: int = 3) -> LinearGapModel:
    generator = torch.Generator().manual_seed(seed)
    conv = torch.randn(channels, 3, generator=generator)
    head = torch.randn(classes, channels, generator=generator)  # mixed signs: the ReLU bites
    return LinearGapModel(conv, head)


def toy_images(n: int = 2, size: int = 5, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def features(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.features(images)


class SquareGapModel(nn.Module):
    """features = ReLU(1x1 conv(x)), logits = W @ spatial mean(features^2): the gradient
    d logit_c / d A_k(i, j) = 2 W[c, k] A_k(i, j) / (h w) varies over space."""

    def __init__(self, conv: torch.Tensor, head: torch.Tensor) -> None:
        super().__init__()
        self.gap = LinearGapModel(conv, head)
        self.features = self.gap.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gap.head(self.features(x).pow(2).mean(dim=(2, 3)))


# --- HiResCAM and XGrad-CAM ----------------------------------------------------------------------


@pytest.mark.parametrize("method_class", [HiResCAM, XGradCAM, GradCAM])
def test_gradient_methods_equal_the_class_activation_map_on_a_gap_head(method_class):
    """With logits = W mean(A), d y_c / d A_k = W[c, k] / (h w) everywhere: HiResCAM's sum and
    XGrad-CAM's weights (sum_ij A / sum A = 1) both give CAM = ReLU(sum_k W[c, k] A_k) / (h w), and
    Grad-CAM the same; after min-max normalisation all three are normalised CAM."""
    model = gap_toy()
    images = toy_images()
    targets = [2, 0]
    explanation = method_class(model, "features")(images, targets=targets)
    activations = features(model, images)
    for b, target in enumerate(targets):
        cam = torch.relu(torch.einsum("k,khw->hw", model.head.weight[target], activations[b]))
        assert cam.max() > cam.min() and (cam == 0).any()
        torch.testing.assert_close(
            explanation.maps[b], minmax_normalize(cam, over=(-2, -1)), atol=1e-6, rtol=1e-5
        )
    assert explanation.classes.tolist() == targets


def test_hirescam_and_xgradcam_by_hand_where_the_gradient_varies_over_space():
    generator = torch.Generator().manual_seed(4)
    conv, head = torch.randn(4, 3, generator=generator), torch.randn(2, 4, generator=generator)
    model = SquareGapModel(conv, head)
    images = toy_images(n=2, size=6, seed=5)
    activations = features(model.gap, images)
    hires = HiResCAM(model, "features")(images, targets=[0, 1]).maps
    xgrad = XGradCAM(model, "features")(images, targets=[0, 1]).maps
    for b, target in enumerate([0, 1]):
        a, w = activations[b].double(), head[target].double()
        gradient = 2 * w[:, None, None] * a / 36
        expected_hires = torch.relu((gradient * a).sum(0))
        sums = a.sum((1, 2))
        weights = torch.where(sums != 0, (a * gradient).sum((1, 2)) / sums, torch.zeros_like(sums))
        expected_xgrad = torch.relu(torch.einsum("k,khw->hw", weights, a))
        for maps, expected in ((hires, expected_hires), (xgrad, expected_xgrad)):
            assert expected.max() > expected.min()
            torch.testing.assert_close(
                maps[b].double(), minmax_normalize(expected, over=(-2, -1)), atol=1e-6, rtol=1e-5
            )
    assert not torch.allclose(hires, xgrad, atol=1e-3)


def test_xgradcam_weight_of_a_channel_that_sums_to_zero_is_zero():
    method = XGradCAM(RegionModel(), "features")
    activations = torch.rand(1, 3, 4, 4)
    activations[0, 1] = 0
    gradients = torch.randn(1, 3, 4, 4)
    weights = method.channel_weights(gradients, activations)[0, :, 0, 0]
    expected = (activations * gradients).sum((2, 3))[0] / activations.sum((2, 3))[0]
    torch.testing.assert_close(weights[[0, 2]], expected[[0, 2]])
    assert weights[1] == 0 and weights.isfinite().all()


@pytest.mark.parametrize("method_class", [HiResCAM, XGradCAM])
def test_gradient_methods_cost_one_forward_and_one_backward(method_class):
    cost = method_class(RegionModel(), "features")(region_images(n=3)).cost
    assert (cost.forward, cost.backward, cost.tail) == (1, 1, 0)


@pytest.mark.parametrize("method_class", [HiResCAM, XGradCAM])
def test_gradient_methods_light_the_region_the_class_depends_on(method_class):
    for region in range(4):
        model = RegionModel(region=region)
        maps = method_class(model, "features")(region_images(), targets=0).maps
        inside, outside = maps[:, model.target_region], maps[:, ~model.target_region]
        assert (inside.mean(1) > 2 * outside.mean(1)).all()


# --- Recipro-CAM ---------------------------------------------------------------------------------


def border_kernel_mass(size: int) -> torch.Tensor:
    """Sum of the 3x3 kernel [1 2 1]^T [1 2 1] / 16 inside a size x size map, centred at each
    position: 1 inside, 12/16 on an edge, 9/16 in a corner."""
    side = torch.full((size,), 1.0)
    side[0] = side[-1] = 0.75
    return side[:, None] * side[None, :]


@pytest.mark.parametrize("kernel", ["point", "gaussian"])
def test_reciprocam_is_the_class_probability_of_each_position_alone(kernel):
    """LinearGapModel's tail is mean-pool + linear: A kept at (i, j) only (the vector A[:, i, j]
    spread with total weight s_ij: 1 for the point kernel, the kernel's mass inside the map for
    the Gaussian one) has logits W A[:, i, j] s_ij / (h w)."""
    model = gap_toy(seed=6, channels=5, classes=3)
    images = toy_images(n=2, size=5, seed=7)
    targets = [1, 2]
    explanation = ReciproCAM(model, "features", kernel=kernel, chunk_size=7)(images, targets)
    activations = features(model, images)
    mass = torch.ones(5, 5) if kernel == "point" else border_kernel_mass(5)
    for b, target in enumerate(targets):
        logits = torch.einsum("ck,khw->chw", model.head.weight, activations[b]) * mass / 25
        probability = logits.softmax(dim=0)[target]
        assert probability.max() > probability.min()
        torch.testing.assert_close(
            explanation.maps[b], minmax_normalize(probability, over=(-2, -1)), atol=1e-6, rtol=0
        )


def test_reciprocam_gaussian_rows_spread_the_centre_vector():
    method = ReciproCAM(RegionModel(), "features", kernel="gaussian")
    masks = method.position_masks(4, 5, torch.device("cpu"), torch.float32)
    assert masks.shape == (20, 4, 5)
    corner, inner = masks[0], masks[1 * 5 + 2]
    torch.testing.assert_close(corner[:2, :2], torch.tensor([[4.0, 2.0], [2.0, 1.0]]) / 16)
    assert corner.sum() == 9 / 16 and inner.sum() == 1
    torch.testing.assert_close(
        inner[:3, 1:4], torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    )
    point = ReciproCAM(RegionModel(), "features").position_masks(4, 5, torch.device("cpu"),
                                                                 torch.float32)
    assert torch.equal(point, torch.eye(20).view(20, 4, 5))


@pytest.mark.parametrize("kernel", ["point", "gaussian"])
def test_reciprocam_tail_passes_equal_full_passes_with_the_masked_layer(kernel):
    """On a non-linear toy, each tail pass equals a full forward pass whose target layer output is
    replaced by the masked activations (computed here by hand, position by position)."""
    model = TinyNet(n_classes=6).eval()
    images = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(8))
    method = ReciproCAM(model, "features", kernel=kernel)
    explanation = method(images)
    activations = features(model, images)
    masks = method.position_masks(4, 4, torch.device("cpu"), torch.float32)
    for b in range(2):
        rows = torch.stack(
            [activations[b, :, p // 4, p % 4][:, None, None] * masks[p] for p in range(16)]
        )

        def replace(module, inputs, output, rows=rows):
            return rows

        handle = model.features.register_forward_hook(replace)
        with torch.no_grad():
            probability = model(images[b : b + 1].expand(16, -1, -1, -1)).softmax(1)
        handle.remove()
        expected = probability[:, explanation.classes[b]].view(4, 4)
        torch.testing.assert_close(
            explanation.maps[b], minmax_normalize(expected, over=(-2, -1)), atol=1e-5, rtol=0
        )


def test_reciprocam_lights_the_region_the_class_depends_on():
    for region in range(4):
        model = RegionModel(region=region)
        maps = ReciproCAM(model, "features")(region_images(), targets=0).maps
        inside, outside = maps[:, model.target_region], maps[:, ~model.target_region]
        assert (inside.mean(1) > 2 * outside.mean(1)).all()


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_reciprocam_costs_one_forward_and_a_tail_pass_per_position(chunk_size):
    model = TinyNet(n_classes=5)
    images = torch.randn(3, 3, 7, 7)  # the target layer is 7 x 7: 49 positions per image
    cost = ReciproCAM(model, "features", chunk_size=chunk_size)(images).cost
    assert (cost.forward, cost.backward, cost.tail) == (1, 0, 49)


@pytest.mark.parametrize(
    "make",
    [
        lambda m, chunk: ReciproCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: ReciproCAM(m, "features", kernel="gaussian", chunk_size=chunk),
        lambda m, chunk: FEM(m, "features", chunk_size=chunk),
        lambda m, chunk: FEM(m, "features", variant="pytorch_grad_cam", chunk_size=chunk),
        lambda m, chunk: KPCACAM(m, "features", chunk_size=chunk),
        lambda m, chunk: HiResCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: XGradCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: CFCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: CFCAM(m, "features", weighting="linear", chunk_size=chunk),
        lambda m, chunk: OptiCAM(m, "features", iterations=5, chunk_size=chunk),
    ],
    ids=[
        "reciprocam", "reciprocam_gaussian", "fem", "fem_pgc", "kpcacam", "hirescam", "xgradcam",
        "cfcam", "cfcam_linear", "opticam",
    ],
)
def test_batch_and_chunk_size_never_change_a_map(make):
    model = TinyNet(n_classes=10).eval()
    images = torch.randn(3, 3, 6, 6, generator=torch.Generator().manual_seed(9))
    reference = make(model, 64)(images).maps
    one_by_one = torch.cat([make(model, 1)(image[None]).maps for image in images])
    torch.testing.assert_close(one_by_one, reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(make(model, 5)(images).maps, reference, atol=1e-6, rtol=0)
    assert (reference.amax((1, 2)) == 1).all()  # no constant map: the test compares something


# --- FEM -----------------------------------------------------------------------------------------


def test_fem_by_hand():
    """Two channels on a 2 x 2 map. Channel 0 (values 0, 0, 0, 4): mean 1, population std sqrt(3),
    threshold 1 + sqrt(3) at k = 1: only the 4 is above. Channel 1 (1, 1, 1, 1): std 0, threshold 1,
    nothing above. Paper: 1 * [0 0; 0 1]. pytorch-grad-cam: share 1/4 of channel 0 times A_0."""
    activations = torch.tensor([[[[0.0, 0.0], [0.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]]])
    paper = FEM(RegionModel(), "features", k=1.0)
    library = FEM(RegionModel(), "features", k=1.0, variant="pytorch_grad_cam")
    torch.testing.assert_close(
        paper.saliency(activations, torch.zeros(1), torch.zeros(1, 2), activations),
        torch.tensor([[[0.0, 0.0], [0.0, 1.0]]]),
    )
    torch.testing.assert_close(
        library.saliency(activations, torch.zeros(1), torch.zeros(1, 2), activations),
        torch.tensor([[[0.0, 0.0], [0.0, 1.0]]]),
    )
    activations[0, 1, 0, 0] = 3.0  # channel 1: mean 1.5, std sqrt(0.75): the 3 is above at k = 1
    expected_paper = torch.tensor([[[1.5, 0.0], [0.0, 1.0]]])
    expected_library = 0.25 * activations[:, 0] + 0.25 * activations[:, 1]
    torch.testing.assert_close(
        paper.saliency(activations, torch.zeros(1), torch.zeros(1, 2), activations), expected_paper
    )
    torch.testing.assert_close(
        library.saliency(activations, torch.zeros(1), torch.zeros(1, 2), activations),
        expected_library,
    )


@pytest.mark.parametrize("method_class", [FEM, KPCACAM])
def test_activation_only_methods_cost_one_forward_and_ignore_the_class(method_class):
    model = TinyNet(n_classes=5)
    images = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(10))
    method: CAMMethod = method_class(model, "features")
    first, second = method(images, targets=0), method(images, targets=3)
    assert torch.equal(first.maps, second.maps)
    assert (first.cost.forward, first.cost.backward, first.cost.tail) == (1, 0, 0)


# --- KPCA-CAM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["sigmoid", "rbf", "poly", "linear", "cosine"])
@pytest.mark.parametrize("gamma", [None, 0.3])
def test_kpcacam_is_scikit_learns_kernel_pca_up_to_its_sign(kernel, gamma):
    activations = torch.rand(2, 6, 4, 5, generator=torch.Generator().manual_seed(11)).double()
    method = KPCACAM(RegionModel(), "features", kernel=kernel, gamma=gamma)
    ours = method.saliency(activations, torch.zeros(2), torch.zeros(2, 2), activations)
    for b in range(2):
        matrix = activations[b].flatten(1).T.numpy()
        matrix = matrix - matrix.mean(axis=0)
        theirs = torch.from_numpy(
            KernelPCA(n_components=1, kernel=kernel, gamma=gamma).fit_transform(matrix)[:, 0]
        )
        channel_sum = activations[b].sum(0).flatten()
        agreement = (theirs - theirs.mean()) @ (channel_sum - channel_sum.mean())
        expected = torch.relu(theirs if agreement >= 0 else -theirs).view(4, 5)
        assert expected.max() > 0
        torch.testing.assert_close(ours[b], expected, atol=1e-9, rtol=1e-7)


# --- options -------------------------------------------------------------------------------------


def test_bad_options_get_a_clear_message():
    model = RegionModel()
    with pytest.raises(ValueError, match="unknown kernel 'box'; choose one of point, gaussian"):
        ReciproCAM(model, "features", kernel="box")
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        ReciproCAM(model, "features", chunk_size=0)
    with pytest.raises(ValueError, match="not a module"):
        ReciproCAM(model, "layer9")
    with pytest.raises(ValueError, match="choose one of paper, pytorch_grad_cam"):
        FEM(model, "features", variant="xplique")
    for k in (-1.0, float("nan"), True, "2"):
        with pytest.raises(ValueError, match="k \\(the sigma multiple\\)"):
            FEM(model, "features", k=k)
    with pytest.raises(ValueError, match="choose one of sigmoid, rbf, poly, linear, cosine"):
        KPCACAM(model, "features", kernel="laplacian")
    for gamma in (0.0, -1.0, float("inf"), False):
        with pytest.raises(ValueError, match="gamma must be a finite number > 0 or None"):
            KPCACAM(model, "features", gamma=gamma)


def test_reciprocam_across_a_residual_connection_names_the_layer():
    class SkipAroundLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 1)
            self.features = nn.Conv2d(4, 4, 1)
            self.head = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            stem = self.stem(x)
            return self.head((self.features(stem) + stem).mean(dim=(2, 3)))

    with pytest.raises(ValueError, match=r"layer 'features'.*read a tensor computed before it"):
        ReciproCAM(SkipAroundLayer(), "features")(torch.zeros(1, 3, 3, 3))


# --- the real model (slow) -----------------------------------------------------------------------
# pytorch-grad-cam is a test dependency ('.[test]'); the slow tests compare against it.

from test_real_agreement import agreement_up_to_sign, pearson  # noqa: E402 - shared helpers


@pytest.mark.slow
@pytest.mark.parametrize(
    "ours, theirs, layer",
    [
        (HiResCAM, "HiResCAM", "bn2"),
        (XGradCAM, "XGradCAM", "bn2"),
        (HiResCAM, "HiResCAM", "blocks.6"),
        (XGradCAM, "XGradCAM", "blocks.6"),
        (lambda model, layer: FEM(model, layer, variant="pytorch_grad_cam"), "FEM", "bn2"),
    ],
    ids=["hirescam", "xgradcam", "hirescam_blocks6", "xgradcam_blocks6", "fem"],
)
def test_agrees_with_pytorch_grad_cam(lite0_and_images, ours, theirs, layer):
    """At bn2 (global average pooling and a linear layer after it) the gradient is constant over
    space, so HiResCAM and XGrad-CAM are Grad-CAM there; blocks.6 (signed activations, 1x1 conv,
    BN and ReLU6 after it) is where they differ from Grad-CAM, and from each other."""
    zoo, images = lite0_and_images
    mine = ours(zoo.model, layer)(images)
    reference = PytorchGradCAM(zoo.model, layer, theirs)(images)
    assert torch.equal(mine.classes, reference.classes)
    agreement = pearson(mine.maps, reference.maps)
    assert (agreement >= 0.999).all(), agreement
    assert (mine.cost.forward, mine.cost.backward, mine.cost.tail) == (
        reference.cost.forward, reference.cost.backward, 0
    )
    if layer == "blocks.6":
        gradcam = GradCAM(zoo.model, layer)(images).maps
        assert (pearson(mine.maps, gradcam) < 0.99).any()


@pytest.mark.slow
def test_kpcacam_agrees_with_pytorch_grad_cam_up_to_its_sign(lite0_and_images):
    """Same kernel PCA; pytorch-grad-cam keeps scikit-learn's sign (the eigenvector's largest entry
    positive), ours correlates with the channel sum. Every kernel here is unchanged by A -> -A,
    while the channel sum flips, so ours of -A is the ReLU of the other sign: theirs is one of
    the two."""
    zoo, images = lite0_and_images
    agreement, _, _ = agreement_up_to_sign(KPCACAM, "KPCA_CAM", zoo, images)
    assert (agreement >= 0.999).all(), agreement


@pytest.mark.slow
def test_reciprocam_on_lite0_costs_49_tail_passes_equal_to_full_passes(lite0_and_images):
    """bn2 is 7 x 7: 49 tail passes per photo, each equal to a full pass of the photo with bn2's
    output replaced by the masked activations (here for the first photo, all 49 positions)."""
    zoo, images = lite0_and_images
    method = ReciproCAM(zoo.model, zoo.target_layer)
    explanation = method(images[:1])
    cost = explanation.cost
    assert (cost.forward, cost.backward, cost.tail) == (1, 0, 49)
    with torch.no_grad(), capture_output(method.layer) as hooked:
        zoo.model(images[:1])
    activations = hooked.output[0]
    masks = method.position_masks(7, 7, activations.device, activations.dtype)
    rows = activations.flatten(1).T[:, :, None, None] * masks[:, None]
    handle = method.layer.register_forward_hook(lambda module, inputs, output: rows)
    try:
        with torch.no_grad():
            probability = zoo.model(images[:1].expand(49, -1, -1, -1)).softmax(1)
    finally:
        handle.remove()
    expected = probability[:, explanation.classes[0]].view(1, 7, 7)
    expected = minmax_normalize(upsample(expected, (224, 224)), over=(-2, -1))
    torch.testing.assert_close(explanation.maps, expected, atol=1e-4, rtol=0)
