"""Methods against known answers: hand-computed Grad-CAM, a model whose class lives in one region,
exact forward/backward counts, and invariance to batch size, chunk size and repetition."""

from __future__ import annotations

import pytest
import torch
from toys import LinearGapModel, RegionModel

from baselines import CenterMap, GradCAM, GradCAMPlusPlus, RandomMap, ScoreCAM
from clustercam import ClusterCAM
from clustercam.cam_method import CAMMethod, capture_output
from clustercam.cost import operations_outside


def region_images(n: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.5 + 0.5 * torch.rand(n, 3, size, size, generator=generator)


def test_gradcam_matches_hand_computation():
    generator = torch.Generator().manual_seed(1)
    conv = torch.randn(4, 3, generator=generator)
    head = torch.tensor([[1.0, -0.5, 0.8, -0.3], [-0.2, 0.9, 0.4, -1.0]])  # mixed signs: ReLU bites
    model = LinearGapModel(conv, head)
    images = torch.randn(2, 3, 5, 5, generator=generator)

    explanation = GradCAM(model, "features")(images, targets=[1, 0])

    for b, target in enumerate([1, 0]):
        activations = torch.relu(torch.einsum("kc,chw->khw", conv, images[b]))
        alpha = head[target] / 25  # d logit / d A_k is W[c, k] / (H W) at every pixel
        cam = torch.relu(torch.einsum("k,khw->hw", alpha, activations))
        assert cam.max() > cam.min() and (cam == 0).any()
        expected = (cam - cam.min()) / (cam.max() - cam.min())
        torch.testing.assert_close(explanation.maps[b], expected, atol=1e-6, rtol=1e-5)
    assert explanation.classes.tolist() == [1, 0]
    assert (explanation.cost.forward, explanation.cost.backward) == (1, 1)


def test_gradcampp_weights_reduce_to_closed_form():
    """Grad-CAM++'s alpha and weights for a gradient that is constant per channel, by hand."""
    generator = torch.Generator().manual_seed(2)
    conv, head = torch.randn(3, 3, generator=generator), torch.randn(2, 3, generator=generator)
    model = LinearGapModel(conv, head)
    images = torch.randn(1, 3, 4, 4, generator=generator)
    method = GradCAMPlusPlus(model, "features")
    activations = model.features(images)
    g = (model.head.weight[0] / 16)[None, :, None, None].expand_as(activations)
    weights = method.channel_weights(g, activations)
    alpha = g[:, :, :1, :1] ** 2 / (
        2 * g[:, :, :1, :1] ** 2 + (activations * g**3).sum((2, 3), keepdim=True)
    )
    expected = (alpha * torch.relu(g[:, :, :1, :1])).sum((2, 3), keepdim=True) * 16
    torch.testing.assert_close(weights, expected)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: ScoreCAM(m, "features"),
        lambda m: ScoreCAM(m, "features", variant="channel_softmax"),
        lambda m: GradCAM(m, "features"),
        lambda m: ClusterCAM(m, "features", n_clusters=4),
    ],
    ids=["scorecam", "scorecam_softmax", "gradcam", "clustercam"],
)
def test_maps_light_up_the_region_the_class_depends_on(make):
    for region in range(4):
        model = RegionModel(region=region)
        maps = make(model)(region_images(), targets=0).maps
        inside, outside = model.target_region, ~model.target_region
        assert maps.shape == (3, 16, 16)
        assert (maps[:, inside].mean(1) > 2 * maps[:, outside].mean(1)).all()


def test_clustercam_centered_cuts_every_other_region_out():
    model = RegionModel(region=2)
    method = ClusterCAM(model, "features", n_clusters=4, cognition="centered")
    maps = method(region_images(), targets=0).maps
    assert (maps[:, ~model.target_region] == 0).all()
    assert (maps[:, model.target_region] > 0).all()


def test_forward_counts_are_exact():
    model = RegionModel(copies=3, dead=2)  # 12 live channels, 2 constant ones
    images = region_images(n=2)
    assert ScoreCAM(model, "features")(images).cost.forward == 1 + 12
    for k in (1, 2, 4):
        cost = ClusterCAM(model, "features", n_clusters=k)(images).cost
        assert (cost.forward, cost.backward) == (1 + k, 0)
    blur_gain = ClusterCAM(model, "features", n_clusters=4, score="blur_gain", blur_kernel=3)
    assert blur_gain(images).cost.forward == 1 + 4 + 1
    grad = GradCAM(model, "features")(images).cost
    assert (grad.forward, grad.backward) == (1, 1)


def test_baseline_cognition_scores_the_blank_image_once_per_model():
    method = ClusterCAM(RegionModel(), "features", n_clusters=4, cognition="baseline")
    first = method(region_images(n=2))
    assert method.setup_cost.forward == 1
    assert first.cost.forward == 1 + 4
    method(region_images(n=2, seed=5))
    assert method.setup_cost.forward == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda m, chunk: ScoreCAM(m, "features", chunk_size=chunk),
        lambda m, chunk: ClusterCAM(m, "features", n_clusters=3, chunk_size=chunk),
        lambda m, chunk: ClusterCAM(
            m, "features", n_clusters=3, chunk_size=chunk, score="blur_gain", blur_kernel=5
        ),
        lambda m, chunk: ClusterCAM(
            m, "features", n_clusters=3, chunk_size=chunk, clustering="agglomerative"
        ),
        lambda m, chunk: ClusterCAM(
            m, "features", n_clusters=3, chunk_size=chunk, clustering="kmeans_sklearn"
        ),
        lambda m, chunk: ClusterCAM(
            m, "features", n_clusters=3, chunk_size=chunk, init="farthest",
            cluster_precision="float64",
        ),
        lambda m, chunk: RandomMap(m, "features", seed=3),
    ],
    ids=["scorecam", "clustercam", "blur_gain", "agglomerative", "kmeans_sklearn", "farthest64",
         "random"],
)
def test_batch_and_chunk_size_never_change_a_map(make):
    model = RegionModel(region=1)
    images = region_images(n=3)
    reference = make(model, 64)(images).maps
    one_by_one = torch.cat([make(model, 1)(image[None]).maps for image in images])
    torch.testing.assert_close(one_by_one, reference, atol=1e-6, rtol=0)
    torch.testing.assert_close(make(model, 2)(images).maps, reference, atol=1e-6, rtol=0)


@pytest.mark.parametrize("clustering", ["kmeans", "kmeans_sklearn", "agglomerative", "spectral"])
def test_same_seed_same_map(clustering):
    model = RegionModel(region=3)
    images = region_images()
    first = ClusterCAM(model, "features", n_clusters=4, clustering=clustering, seed=7)(images)
    again = ClusterCAM(model, "features", n_clusters=4, clustering=clustering, seed=7)(images)
    assert torch.equal(first.maps, again.maps)


def test_cognition_variants_light_the_region():
    model = RegionModel(region=0)
    images = region_images(n=2)
    for cognition in ("centered", "baseline", "extremes", "weighted"):
        maps = ClusterCAM(model, "features", n_clusters=4, cognition=cognition)(images).maps
        assert maps[:, model.target_region].mean() > maps[:, ~model.target_region].mean()


def test_cognition_base_minus_scissors_by_hand():
    """Two images at once; the second has clusters 0 and 1 only, so its third score is ignored."""
    maps = torch.tensor(
        [[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]], [[0.5, 0.0], [1.0, 0.0]]]
    )
    batch = torch.stack([maps, maps * torch.tensor([1.0, 1.0, 0.0])[:, None, None]])
    scores = torch.tensor([[0.9, 0.5, 0.1], [0.9, 0.5, 99.0]])
    found = torch.tensor([[True, True, True], [True, True, False]])
    classes = torch.tensor([0, 1])
    method = ClusterCAM(RegionModel(), "features", lam=0.5, cognition="centered")

    def combined() -> torch.Tensor:
        return method.combine(batch, scores, found, classes)

    # Means 0.5 and 0.7: gains +0.4, 0, -0.4 and +0.2, -0.2.
    expected = [torch.relu(0.4 * maps[0] - 0.5 * 0.4 * maps[2]),
                torch.relu(0.2 * maps[0] - 0.5 * 0.2 * maps[1])]
    torch.testing.assert_close(combined(), torch.stack(expected))
    method.cognition = "extremes"
    expected = [torch.relu(maps[0] - 0.5 * maps[2]), torch.relu(maps[0] - 0.5 * maps[1])]
    torch.testing.assert_close(combined(), torch.stack(expected))
    method.cognition, method.lam = "baseline", 1.0
    # p(blank) = 0.3 for class 0, 0.7 for class 1: gains +0.6, +0.2, -0.2 and +0.2, -0.2.
    method.blank_probabilities = torch.tensor([0.3, 0.7])
    expected = [torch.relu(0.6 * maps[0] + 0.2 * maps[1] - 0.2 * maps[2]),
                torch.relu(0.2 * maps[0] - 0.2 * maps[1])]
    torch.testing.assert_close(combined(), torch.stack(expected))
    method.cognition = "weighted"
    expected = [0.9 * maps[0] + 0.5 * maps[1] + 0.1 * maps[2], 0.9 * maps[0] + 0.5 * maps[1]]
    torch.testing.assert_close(combined(), torch.stack(expected))


def test_maps_are_normalised_and_at_input_size():
    model = LinearGapModel(torch.randn(4, 3), torch.randn(3, 4))
    images = torch.randn(2, 3, 6, 6)
    for method in (GradCAM(model, "features"), ScoreCAM(model, "features"),
                   CenterMap(model, "features"), RandomMap(model, "features")):
        maps = method(images).maps
        assert maps.shape == (2, 6, 6)
        assert maps.min() >= 0 and maps.max() <= 1


def test_hooks_are_removed_even_when_a_method_fails():
    class Broken(CAMMethod):
        def saliency(self, images, classes, logits, activations):
            raise RuntimeError("boom")

    model = RegionModel()
    with pytest.raises(RuntimeError, match="boom"):
        Broken(model, "features")(region_images(n=1))
    assert not model.features._forward_hooks
    GradCAM(model, "features")(region_images(n=1))
    assert not model.features._forward_hooks


def test_bad_input_gets_a_clear_message():
    model = RegionModel(copies=1, dead=0)  # 4 channels
    images = region_images(n=1)
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        GradCAM(model, "features")(images, targets=2)
    with pytest.raises(ValueError, match="n_clusters"):
        ClusterCAM(model, "features", n_clusters=0)
    with pytest.raises(ValueError, match="exceeds the 4 channels"):
        ClusterCAM(model, "features", n_clusters=5)(images)
    with pytest.raises(ValueError, match="choose one of kmeans"):
        ClusterCAM(model, "features", clustering="dbscan")
    with pytest.raises(ValueError, match="unknown init"):
        ClusterCAM(model, "features", init="random")
    with pytest.raises(ValueError, match="unknown cluster_precision"):
        ClusterCAM(model, "features", cluster_precision="float16")
    with pytest.raises(ValueError, match="not a module"):
        GradCAM(model, "layer9")
    with pytest.raises(ValueError, match="official or channel_softmax"):
        ScoreCAM(model, "features", variant="fast")


def test_farthest_kmeans_groups_the_region_toys_channels_by_quadrant():
    """RegionModel's channels are copies (with offsets) of one map per quadrant: farthest-point
    k-means on the normalised maps puts each quadrant's copies together and leaves the dead
    channels out. (scikit-learn's k-means++ with 4 restarts settles for a worse partition here:
    inertia 46.4 against 42.2 on the first image, so the two maps are not compared.)"""
    model = RegionModel(region=1, copies=3, dead=2)
    method = ClusterCAM(model, "features", n_clusters=4, init="farthest", features="normalized")
    with capture_output(model.features) as hooked:
        model(region_images(n=2))
    labels = method.channel_labels(hooked.output)
    for image_labels in labels:
        quadrants = image_labels[:12].view(4, 3)
        assert (quadrants == quadrants[:, :1]).all()  # copies together
        assert len(set(quadrants[:, 0].tolist())) == 4  # quadrants apart
        assert (image_labels[12:] == -1).all()  # dead channels left out


def test_cluster_maps_of_a_batch_equal_those_of_each_image():
    model = RegionModel(region=0, copies=3, dead=2)
    with capture_output(model.features) as hooked:
        model(region_images(n=3))
    activations = hooked.output
    method = ClusterCAM(model, "features", n_clusters=4, n_init=3)
    batched, found = method.cluster_means(activations)
    assert found.all()  # 4 clusters in each image
    for image_activations, image_maps in zip(activations, batched):
        alone, _ = method.cluster_means(image_activations[None])
        assert torch.equal(alone[0], image_maps)


@pytest.mark.parametrize("cognition", ["centered", "baseline", "extremes", "weighted"])
@pytest.mark.parametrize("score", ["masked", "blur_gain"])
def test_clustercam_work_outside_the_model_does_not_grow_with_the_batch(cognition, score):
    """2 or 8 copies of one image cost the same operations outside the model (same k-means
    iterations, one chunk of masked images): no step loops over the images of a batch."""
    model = RegionModel()
    method = ClusterCAM(
        model, "features", n_clusters=4, cognition=cognition, score=score, blur_kernel=5,
        chunk_size=64,
    )
    image = region_images(n=1)
    method(image)  # the blank image's scores, once per model
    counts = []
    for n_images in (2, 8):  # 8 and 32 masked images: batch shapes, so no padding either way
        with operations_outside(model) as operations:
            method(image.expand(n_images, -1, -1, -1))
        counts.append(operations)
    assert counts[0] == counts[1]
    # The engine's work, in inference mode, is counted too: a softmax per chunk it scores (the
    # masked images; with blur_gain also the blurred images).
    assert counts[0]["aten.softmax"] == (1 if score == "masked" else 2)


def test_k_is_capped_at_the_live_channels_of_an_image():
    """6 channels, 2 of them constant: K=5 is allowed by the layer but only 4 clusters exist."""
    model = RegionModel(copies=1, dead=2)
    explanation = ClusterCAM(model, "features", n_clusters=5)(region_images(n=1), targets=0)
    assert explanation.cost.forward == 1 + 4
    assert (explanation.maps[0, ~model.target_region] == 0).all()
