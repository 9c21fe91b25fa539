"""Cascading parameter randomisation (clustercam/bench/randomization.py) on a toy model."""

from __future__ import annotations

import pytest
import torch
from toys import LinearGapModel

from baselines import CenterMap, GradCAM
from clustercam.bench import randomization


@pytest.fixture
def model() -> LinearGapModel:
    generator = torch.Generator().manual_seed(0)
    conv, head = torch.randn(6, 3, generator=generator), torch.randn(4, 6, generator=generator)
    return LinearGapModel(conv, head)


def test_cascade_randomises_top_down_on_a_copy_one_block_at_a_time(model) -> None:
    original = {k: v.clone() for k, v in model.state_dict().items()}
    assert randomization.cascade_blocks(model) == ["head", "features.0"]
    steps = []
    for block, randomized in randomization.cascade(model):
        assert randomized is not model
        steps.append((block, {k: v.clone() for k, v in randomized.state_dict().items()}))
    (first, after_head), (second, after_all) = steps
    assert (first, second) == ("head", "features.0")
    assert not torch.equal(after_head["head.weight"], original["head.weight"])
    assert torch.equal(after_head["features.0.weight"], original["features.0.weight"])
    assert torch.equal(after_all["head.weight"], after_head["head.weight"])  # cumulative
    assert not torch.equal(after_all["features.0.weight"], original["features.0.weight"])
    for key, value in model.state_dict().items():  # the original never changed
        assert torch.equal(value, original[key])


def test_randomised_weights_keep_the_parameter_scale(model) -> None:
    weight = model.head.weight.detach().clone()
    _, randomized = next(randomization.cascade(model))
    new = randomized.head.weight.detach()
    assert new.std() == pytest.approx(float(weight.std()), rel=0.8)
    assert abs(float(torch.corrcoef(torch.stack([new.flatten(), weight.flatten()]))[0, 1])) < 0.9


def test_ssim_closed_forms() -> None:
    image = torch.rand(20, 20, generator=torch.Generator().manual_seed(3))
    assert randomization.ssim(image, image) == pytest.approx(1.0)
    # Two constant maps: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 0.2, 0.6, 0.01**2
    expected = (2 * a * b + c1) / (a**2 + b**2 + c1)
    assert randomization.ssim(torch.full((16, 16), a), torch.full((16, 16), b)) == pytest.approx(
        expected
    )
    assert randomization.ssim(image, 1 - image) < 0
    # Smaller than the 11-pixel window, or not square: still 1 for a map against itself.
    assert randomization.ssim(image[:8, :5], image[:8, :5]) == pytest.approx(1.0)
    assert randomization.ssim(image[:, :13], image[:, :13].T.flip(0).T) < 0.5


def test_model_blind_map_fails_and_grad_cam_changes(model) -> None:
    images = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    makers = {
        "gradcam": lambda net: GradCAM(net, "features"),
        "center": lambda net: CenterMap(net, "features"),
    }
    rows = randomization.sanity_check(makers, model, images, ["a", "b", "c"])
    assert sorted(rows["step"].unique()) == [1, 2]
    verdicts = randomization.verdicts(rows).set_index("method")
    assert verdicts.loc["center", "spearman_all_blocks"] == 1.0
    assert verdicts.loc["center", "verdict"].startswith("FAIL")
    assert verdicts.loc["gradcam", "spearman_all_blocks"] < 1.0


def test_each_step_is_explained_in_its_own_state(model) -> None:
    seen = []

    def recording(net):
        seen.append((net.head.weight.detach().clone(), net.features[0].weight.detach().clone()))
        return GradCAM(net, "features")

    images = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    randomization.sanity_check({"gradcam": recording}, model, images, ["a", "b"])
    (head0, conv0), (head1, conv1), (head2, conv2) = seen  # original, step 1, step 2
    assert not torch.equal(head1, head0) and torch.equal(conv1, conv0)
    assert torch.equal(head2, head1) and not torch.equal(conv2, conv0)
