"""The README's GPU numbers against the committed records they come from (results/gpu_h200)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clustercam.bench.run_folder import method_costs

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "results" / "gpu_h200"
SIX_METHODS = ["clustercam", "gradcam", "gradcampp", "scorecam", "random", "center"]


def mean_seconds(run: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per method: mean method seconds and mean method + metrics seconds per image."""
    costs = method_costs(RUNS / run)
    return costs["seconds"].to_dict(), (costs["seconds"] + costs["metric_seconds"]).to_dict()


@pytest.mark.parametrize(
    ("run", "stated"),
    [("runner_cuda", "22.0x"), ("runner_cuda_resnet50", "76.8x"), ("runner_cuda_vgg16", "30.4x"),
     ("runner_cuda_bf16", "16.9x")],
)
def test_score_cam_over_cluster_cam_in_the_runner_as_stated(run: str, stated: str) -> None:
    method, _ = mean_seconds(run)
    assert f"{method['scorecam'] / method['clustercam']:.1f}x" == stated
    for readme in (ROOT / "README.md", RUNS / "README.md"):
        assert stated in readme.read_text(), readme


@pytest.mark.parametrize(
    ("run", "stated"), [("runner_cuda", "5.1 h"), ("runner_cuda_bf16", "2.3 h")]
)
def test_six_method_workload_hours_for_50000_images_as_stated(run: str, stated: str) -> None:
    _, total = mean_seconds(run)
    hours = 50_000 * sum(total[m] for m in SIX_METHODS) / 3600
    assert f"{hours:.1f} h" == stated
    assert stated in (ROOT / "README.md").read_text()
