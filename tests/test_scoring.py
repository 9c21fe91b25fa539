"""The scoring engine: fixed batch shapes that never change a score, memory format, precision."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from toys import RegionModel, TinyNet

from baselines import GradCAM, ScoreCAM
from clustercam import ClusterCAM
from clustercam.cost import CostCounter, counted
from clustercam.scoring import batch_shapes, class_scores, memory_format, padded_size
from metrics import confidence, deletion, insertion


class ShapeRecorder(nn.Module):
    """Passes images to `model` and remembers each batch's size and memory layout."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sizes: list[int] = []
        self.channels_last: list[bool] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(images))
        self.channels_last.append(
            images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
        )
        return self.model(images)


def images(n: int, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_batch_shapes_are_powers_of_two_then_the_chunk():
    assert batch_shapes(1) == [1]
    assert batch_shapes(16) == [1, 2, 4, 8, 16]
    assert batch_shapes(24) == [1, 2, 4, 8, 16, 24]
    assert [padded_size(n, 24) for n in (1, 3, 5, 9, 17, 24)] == [1, 4, 8, 16, 24, 24]
    with pytest.raises(ValueError, match="chunk_size"):
        batch_shapes(0)


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 8, 64])
def test_padding_never_changes_a_score_and_is_not_counted(chunk_size: int):
    model = TinyNet(n_classes=10).eval()
    batch = images(11)
    classes = torch.arange(11) % 10
    with torch.no_grad():
        expected = model(batch).softmax(1).gather(1, classes[:, None])[:, 0]
    recorder = ShapeRecorder(model)
    counter = counted(recorder)
    scores = class_scores(counter, 11, lambda a, b: batch[a:b], classes, chunk_size)
    torch.testing.assert_close(scores, expected, atol=1e-6, rtol=0)
    assert set(recorder.sizes) <= set(batch_shapes(chunk_size))
    assert counter.forward_images == 11
    assert counter.padding_images == sum(recorder.sizes) - 11
    last = 11 % chunk_size or chunk_size
    assert counter.padding_images == padded_size(last, chunk_size) - last


def test_method_counts_stay_exact_with_padding_counted_apart():
    model = RegionModel(copies=3, dead=2)  # 12 live channels: a chunk of 12 runs at shape 16
    method = ScoreCAM(model, "features", chunk_size=64)
    assert method(torch.rand(1, 3, 16, 16)).cost.forward == 1 + 12
    assert method.model.padding_images == 4
    cluster = ClusterCAM(model, "features", n_clusters=3, chunk_size=64)
    assert cluster(torch.rand(1, 3, 16, 16)).cost.forward == 1 + 3
    assert cluster.model.padding_images == 1


def test_perturbed_images_follow_a_channels_last_model_and_results_stay():
    plain = TinyNet(n_classes=10).eval()
    last = TinyNet(n_classes=10).eval().to(memory_format=torch.channels_last)
    assert memory_format(plain) == torch.contiguous_format
    assert memory_format(last) == torch.channels_last
    batch, maps = images(3, 16), torch.rand(3, 16, 16)
    classes = torch.tensor([1, 4, 7])
    recorder = ShapeRecorder(last)
    for metric in (deletion("rise", step=16), insertion("rise", step=16)):
        expected = metric(plain, batch, maps, classes, chunk_size=5)
        result = metric(recorder, batch, maps, classes, chunk_size=5)
        torch.testing.assert_close(result.curves, expected.curves, atol=1e-5, rtol=0)
    conf = confidence(recorder, batch, maps, classes, chunk_size=2)
    torch.testing.assert_close(
        conf.explained, confidence(plain, batch, maps, classes, chunk_size=2).explained,
        atol=1e-5, rtol=0,
    )
    assert all(recorder.channels_last)


@pytest.mark.parametrize("kind", ["deletion", "insertion"])
@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_curves_equal_the_images_built_one_by_one(kind: str, chunk_size: int):
    """The chunked engine against the definition: every point's image built and scored alone."""
    model = TinyNet(n_classes=10).eval()
    batch, maps = images(3, 8), torch.rand(3, 8, 8)
    maps[1] = 0.5  # constant: skipped, NaN curve
    classes = torch.tensor([2, 3, 9])
    metric = deletion("rise", step=5) if kind == "deletion" else insertion("rise", step=5)
    result = metric(model, batch, maps, classes, chunk_size=chunk_size)
    start, finish = metric.start_finish(batch)
    n_steps = metric.n_steps(8, 8)
    for b in (0, 2):
        ranks = torch.empty(64, dtype=torch.long)
        ranks[maps[b].flatten().sort(descending=True, stable=True).indices] = torch.arange(64)
        points = torch.stack([
            torch.where((ranks < t * 5).view(1, 8, 8), finish[b], start[b])
            for t in range(n_steps + 1)
        ])
        with torch.no_grad():
            expected = model(points).softmax(1)[:, classes[b]]
        torch.testing.assert_close(result.curves[b], expected, atol=1e-6, rtol=0)
    assert result.curves[1].isnan().all()


def test_fp32_is_the_bare_model_bit_for_bit():
    model = TinyNet(n_classes=10).eval()
    batch = images(4)
    with torch.no_grad():
        assert torch.equal(CostCounter(model, "fp32")(batch), model(batch))


def test_bf16_stays_close_and_returns_float32():
    model = TinyNet(n_classes=10).eval()
    batch, classes = images(4, 16), torch.tensor([0, 1, 2, 3])
    fp32 = GradCAM(counted(model), "features")(batch, classes).maps
    bf16 = GradCAM(counted(model, "bf16"), "features")(batch, classes).maps
    assert bf16.dtype == torch.float32
    assert (bf16 - fp32).abs().max() < 0.1
    assert not torch.equal(bf16, fp32)  # autocast really ran
    maps = fp32
    exact = insertion("rise", step=32)(counted(model), batch, maps, classes)
    low = insertion("rise", step=32)(counted(model, "bf16"), batch, maps, classes)
    assert low.curves.dtype == torch.float32
    torch.testing.assert_close(low.auc, exact.auc, atol=0.02, rtol=0)


def test_bad_precisions_get_a_clear_message():
    with pytest.raises(ValueError, match="valid: fp32, bf16, fp16"):
        CostCounter(nn.Identity(), "fp64")
    with pytest.raises(ValueError, match="already counted at precision 'fp32'"):
        counted(counted(nn.Identity()), "bf16")
    counter = counted(nn.Identity(), "bf16")
    assert counted(counter) is counter and counted(counter, "bf16") is counter
    with pytest.raises(ValueError, match="use precision='fp32' there"):
        counter(torch.empty(1, 3, 4, 4, device="meta"))
