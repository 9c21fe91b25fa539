"""Group-CAM, Ablation-CAM (with tail passes) and RISE against known answers on toy models, exact
forward/backward/tail counts, batch- and chunk-size invariance, and agreement with pytorch-grad-cam
where it is installed."""

from __future__ import annotations

import pytest
import torch
from test_methods import region_images
from torch import nn
from toys import LinearGapModel, RegionModel, TinyNet

from baselines import RISE, AblationCAM, GroupCAM
from clustercam.cost import counted
from clustercam.map_ops import minmax_normalize
from clustercam.tail import tail_logits


def bright_region_images(model: RegionModel, n: int = 3) -> torch.Tensor:
    """Dim images whose target region is bright: blurring moves light out of the region, so keeping
    the region sharp raises the class score above the blurred image's (Group-CAM's gain)."""
    images = 0.3 * region_images(n)
    images[:, :, model.target_region] /= 0.3
    return images


def lights_region(maps: torch.Tensor, model: RegionModel, ratio: float = 2.0) -> bool:
    inside, outside = maps[:, model.target_region], maps[:, ~model.target_region]
    return bool((inside.mean(1) > ratio * outside.mean(1)).all())


# --- tail passes ---------------------------------------------------------------------------------


def test_tail_logits_equal_full_passes_with_the_channel_zeroed():
    model = TinyNet(n_classes=5).eval()
    images = torch.randn(2, 3, 8, 8)
    activations = model.features(images)
    rows, expected = [], []
    for b in range(2):
        for k in (0, 3, 7):
            ablated = activations[b].clone()
            ablated[k] = 0
            rows.append(ablated)

            def zero(module, inputs, output, k=k):
                output = output.clone()
                output[:, k] = 0
                return output

            handle = model.features.register_forward_hook(zero)
            with torch.no_grad():
                expected.append(model(images[b : b + 1])[0])
            handle.remove()
    counter = counted(model)
    with counter.measure() as cost:
        logits = tail_logits(counter, model.features, torch.stack(rows), images)
    torch.testing.assert_close(logits, torch.stack(expected), atol=1e-5, rtol=1e-5)
    assert (cost.forward, cost.backward, cost.tail) == (0, 0, 6)


class SkipAroundLayer(nn.Module):
    """A residual connection around `features`: tail passes cannot work here."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.features = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        return self.head((self.features(stem) + stem).mean(dim=(2, 3)))


@pytest.mark.parametrize("n_rows", [1, 3])
def test_tail_pass_across_a_residual_connection_is_refused_naming_the_layer(n_rows):
    model = SkipAroundLayer()
    with pytest.raises(ValueError, match=r"layer 'features'.*read a tensor computed before it"):
        tail_logits(
            counted(model), model.features, torch.zeros(n_rows, 4, 5, 5), torch.zeros(1, 3, 5, 5)
        )
    assert not model.features._forward_hooks


def test_tail_pass_with_wrong_activation_shape_says_so():
    model = TinyNet(n_classes=5)
    with pytest.raises(ValueError, match=r"\(8, 6, 6\) for these images"):
        tail_logits(
            counted(model), model.features, torch.zeros(2, 8, 5, 5), torch.zeros(1, 3, 6, 6)
        )


# --- Ablation-CAM --------------------------------------------------------------------------------


def test_ablationcam_matches_hand_computation():
    """logits = W mean(A): zeroing channel k lowers logit c by W[c, k] mean(A_k), so
    w_k = W[c, k] mean(A_k) / y_c and L = ReLU(sum_k w_k A_k)."""
    generator = torch.Generator().manual_seed(3)
    conv = torch.randn(5, 3, generator=generator)
    head = torch.tensor([[1.0, -0.5, 0.8, -0.3, 0.6], [-0.2, 0.9, 0.4, -1.0, 0.7]])
    model = LinearGapModel(conv, head)
    images = torch.randn(2, 3, 6, 6, generator=generator)
    explanation = AblationCAM(model, "features", chunk_size=3)(images, targets=[0, 1])
    for b, target in enumerate([0, 1]):
        activations = torch.relu(torch.einsum("kc,chw->khw", conv, images[b]))
        drops = head[target] * activations.mean(dim=(1, 2))
        weights = drops / drops.sum()  # y_c = sum_k W[c, k] mean(A_k), no bias
        cam = torch.relu(torch.einsum("k,khw->hw", weights, activations))
        assert cam.max() > cam.min() and (cam == 0).any()
        expected = minmax_normalize(cam, over=(-2, -1))
        torch.testing.assert_close(explanation.maps[b], expected, atol=1e-5, rtol=0)


def test_ablationcam_counts_one_forward_and_a_tail_pass_per_live_channel():
    model = RegionModel(copies=3, dead=2)  # 12 live channels, 2 all zero
    for chunk_size in (1, 5, 64):
        cost = AblationCAM(model, "features", chunk_size=chunk_size)(region_images(n=2)).cost
        assert (cost.forward, cost.backward, cost.tail) == (1, 0, 12)


# --- Group-CAM -----------------------------------------------------------------------------------


def test_groupcam_group_maps_by_hand():
    weighted = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0]], [[-2.0, 0.0], [0.0, 0.0]], [[0.5, 0.5], [-5.0, 1.0]],
         [[0.0, 1.0], [0.0, 0.0]]]
    )
    method = GroupCAM(RegionModel(), "features", groups=2, denoise_percentile=50)
    maps = method.group_maps(weighted)
    # group sums [[-1, 2], [3, 4]] and [[0.5, 1.5], [-5, 1]]; ReLU; keep values above the median
    # (2.5 and 0.75, numpy's linear interpolation as in the authors' code)
    expected = torch.tensor([[[0.0, 0.0], [3.0, 4.0]], [[0.0, 1.5], [0.0, 1.0]]])
    torch.testing.assert_close(maps, expected)


@pytest.mark.parametrize("grouping", ["consecutive", "kmeans"])
def test_groupcam_lights_the_region_the_class_depends_on(grouping):
    for region in range(4):
        model = RegionModel(region=region)
        method = GroupCAM(model, "features", groups=4, grouping=grouping, blur_kernel=15)
        assert lights_region(method(bright_region_images(model), targets=0).maps, model)


def test_groupcam_counts():
    """Only the target region's 3 channels get a gradient, so only groups holding one of them
    have a non-constant map: G=14 (one channel each) -> 3 groups; G=7 (pairs 01 23 45 ...) -> 2."""
    model = RegionModel(region=1, copies=3, dead=2)  # channels 3, 4, 5 drive class 0
    images = bright_region_images(model, n=2)
    for groups, scored in ((14, 3), (7, 2)):
        cost = GroupCAM(model, "features", groups=groups, blur_kernel=15)(images, targets=0).cost
        assert (cost.forward, cost.backward, cost.tail) == (1 + scored + 1, 1, 0)


def test_groupcam_rejects_bad_options():
    model = RegionModel(copies=1, dead=0)
    with pytest.raises(ValueError, match="choose one of consecutive, kmeans"):
        GroupCAM(model, "features", grouping="spectral")
    with pytest.raises(ValueError, match="groups"):
        GroupCAM(model, "features", groups=0)


# --- RISE ----------------------------------------------------------------------------------------


def test_rise_masks_follow_the_paper_procedure():
    method = RISE(RegionModel(), "features", n_masks=300, cells=4, keep_probability=0.5, seed=1)
    masks = method.masks(torch.arange(300), (16, 16))
    grids, shifts = method.draws((16, 16))
    assert masks.shape == (300, 16, 16) and masks.min() >= 0 and masks.max() <= 1
    assert ((shifts >= 0) & (shifts < 4)).all() and len(shifts.unique(dim=0)) > 8
    assert abs(grids.mean().item() - 0.5) < 0.03 and abs(masks.mean().item() - 0.5) < 0.03
    # a grid all kept (all dropped) gives a mask of ones (zeros) after upsampling and cropping
    grids[0], grids[1] = 1, 0
    full, empty = method.masks(torch.tensor([0, 1]), (16, 16))
    torch.testing.assert_close(full, torch.ones(16, 16))
    assert (empty == 0).all()
    again = RISE(RegionModel(), "features", n_masks=300, cells=4, seed=1)
    assert torch.equal(again.draws((16, 16))[1], shifts)


def test_rise_masks_are_the_upsampled_grids_cropped_at_their_shifts():
    """The batched crop equals cropping each upsampled grid by hand (paper step by step)."""
    method = RISE(RegionModel(), "features", n_masks=40, cells=3, seed=2)
    size = (13, 11)  # not a multiple of the cells: cell = (5, 4), upsampled to (20, 16)
    grids, shifts = method.draws(size)
    indices = torch.tensor([5, 0, 39, 5, 17])
    masks = method.masks(indices, size)
    for mask, i in zip(masks, indices.tolist()):
        up = torch.nn.functional.interpolate(
            grids[i][None, None], size=(20, 16), mode="bilinear", align_corners=False
        )[0, 0]
        dy, dx = shifts[i].tolist()
        assert torch.equal(mask, up[dy : dy + 13, dx : dx + 11])


def test_rise_saliency_is_the_probability_weighted_mean_mask():
    model = RegionModel(region=2, gain=4.0)
    images = region_images(n=2)
    method = RISE(model, "features", n_masks=50, cells=4, keep_probability=0.4, chunk_size=7)
    explanation = method(images, targets=0)
    masks = method.masks(torch.arange(50), (16, 16))
    for b in range(2):
        with torch.no_grad():
            probabilities = model(images[b] * masks[:, None]).softmax(1)[:, 0].float()
        expected = torch.einsum("n,nhw->hw", probabilities, masks) / (50 * 0.4)
        expected = minmax_normalize(expected, over=(-2, -1))
        torch.testing.assert_close(explanation.maps[b], expected, atol=1e-5, rtol=0)
    cost = explanation.cost
    assert (cost.forward, cost.backward, cost.tail) == (1 + 50, 0, 0)


def test_rise_lights_the_region_the_class_depends_on():
    for region in range(4):
        model = RegionModel(region=region, gain=4.0)
        maps = RISE(model, "features", n_masks=1000, cells=4)(region_images(), targets=0).maps
        assert lights_region(maps, model, ratio=1.5)  # RISE's maps are smooth: cells of 4 pixels


def test_rise_rejects_bad_options():
    with pytest.raises(ValueError, match="keep_probability"):
        RISE(RegionModel(), "features", keep_probability=0)
    with pytest.raises(ValueError, match="n_masks"):
        RISE(RegionModel(), "features", n_masks=0)


# --- invariance ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda m, chunk: AblationCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: GroupCAM(m, "features", groups=7, blur_kernel=15, chunk_size=chunk),
        lambda m, chunk: GroupCAM(
            m, "features", groups=4, grouping="kmeans", blur_kernel=15, chunk_size=chunk
        ),
        lambda m, chunk: RISE(m, "features", n_masks=40, cells=4, chunk_size=chunk),
    ],
    ids=["ablationcam", "groupcam", "groupcam_kmeans", "rise"],
)
def test_batch_and_chunk_size_never_change_a_map(make):
    model = RegionModel(region=1, gain=4.0)
    images = bright_region_images(model)
    reference = make(model, 64)(images).maps
    one_by_one = torch.cat([make(model, 1)(image[None]).maps for image in images])
    torch.testing.assert_close(one_by_one, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(make(model, 3)(images).maps, reference, atol=1e-5, rtol=0)


# --- agreement with pytorch-grad-cam (pip install grad-cam; in the test extra) -------------------


@pytest.mark.slow
def test_ablationcam_agrees_with_pytorch_grad_cam_on_lite0():
    """Same definition: both zero one channel of bn2 (its ReLU6 output has minimum 0, so
    pytorch-grad-cam zeroes rather than using its large negative value), w_k = (y - y_k) / y,
    ReLU(sum w_k A_k). Differences: pytorch-grad-cam normalises before resizing with cv2 and runs
    the whole network per ablation; we run tail passes only and skip all-zero channels (weight x
    zero map adds nothing). A 128 px input (bn2 is 4 x 4) keeps its 1280 full passes short."""
    pytorch_grad_cam = pytest.importorskip(
        "pytorch_grad_cam", reason="pytorch-grad-cam not installed (pip install grad-cam)"
    )
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from clustercam.bench import bundled_samples, load_image, load_model

    zoo = load_model("efficientnet_lite0")
    sample = next(s for s in bundled_samples() if s.image_id == "dog_bike_truck")
    image = torch.nn.functional.interpolate(
        zoo.transform(load_image(sample.path))[None], size=(128, 128), mode="bilinear"
    )
    ours = AblationCAM(zoo.model, zoo.target_layer, chunk_size=256)(image)
    assert 0 < ours.cost.tail <= 1280 and (ours.cost.forward, ours.cost.backward) == (1, 0)
    reference = pytorch_grad_cam.AblationCAM(
        zoo.model, [zoo.model.get_submodule(zoo.target_layer)], batch_size=128
    )(image, targets=[ClassifierOutputTarget(int(ours.classes[0]))])[0]
    both = torch.stack([ours.maps[0].flatten(), torch.from_numpy(reference).flatten()])
    assert torch.corrcoef(both)[0, 1] >= 0.99
