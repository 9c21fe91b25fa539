"""Out of GPU memory, the scoring engine halves its chunk and goes on with the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from runner_support import TINY, compose_config, make_image_folder
from test_experiment import assert_summaries_equal, drop_timing
from toys import TinyNet

from clustercam import scoring
from clustercam.bench.experiment import run
from clustercam.scoring import class_scores


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: no chunk limit learnt yet."""
    monkeypatch.setattr(scoring, "_CHUNK_LIMITS", {})


def test_chunk_halves_until_it_fits_and_scores_are_unchanged(caplog) -> None:
    images = torch.randn(11, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    classes = torch.arange(11) % 7
    batches: list[int] = []

    class Recording(TinyNet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batches.append(len(x))
            return super().forward(x)

    small = Recording(max_batch=3).eval()
    fitting = class_scores(TinyNet().eval(), 11, lambda a, b: images[a:b], classes, 2)
    scores = class_scores(small, 11, lambda a, b: images[a:b], classes, 16)
    # Bit for bit what chunks of 2 give; convolutions round differently at other batch sizes.
    torch.testing.assert_close(scores, fitting, rtol=0, atol=0)
    # 16 (11 images padded to 16), 8 and 4 fail on the first slice, then slices of 2: halving
    # never skips an image.
    assert batches == [16, 8, 4, 2, 2, 2, 2, 2, 1]
    assert scoring.chunk_limits() == {"cpu": 2}
    assert "out of memory on cpu with 4 images per forward pass: going on with 2" in caplog.text
    # The next call starts at the learnt size: no failed attempt.
    batches.clear()
    class_scores(small, 5, lambda a, b: images[a:b], classes[:5], 16)
    assert batches == [2, 2, 1]


def test_one_image_that_does_not_fit_raises() -> None:
    class NoRoom(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise torch.cuda.OutOfMemoryError(f"toy: no room for {len(x)} images")

    with pytest.raises(torch.cuda.OutOfMemoryError, match="no room for 1 images"):
        class_scores(NoRoom(), 2, lambda a, b: torch.zeros(b - a, 3), torch.zeros(2).long(), 4)
    assert scoring.chunk_limits() == {"cpu": 1}


def test_run_backs_off_and_records_it(tmp_path: Path) -> None:
    """A run on a 'GPU' that holds 3 images per pass: the same tables as a run that fits (with
    the chunk it backed off to, as convolutions round differently at other batch sizes), the
    same forward counts, and runtime.json says which chunk it went on with."""
    images = make_image_folder(tmp_path / "images")
    common = [*TINY, "data=imagefolder", f"data.root={images}", "+method@methods.scorecam=scorecam"]
    run(compose_config(*common, "chunk_size=2"), tmp_path / "roomy")
    roomy = json.loads((tmp_path / "roomy" / "runtime.json").read_text())
    assert roomy["chunk_size_after_out_of_memory"] == {}
    run(compose_config(*common, "chunk_size=8", "+model.max_batch=3"), tmp_path / "small")
    assert drop_timing((tmp_path / "small" / "per_image.csv").read_text()) == drop_timing(
        (tmp_path / "roomy" / "per_image.csv").read_text()
    )
    assert_summaries_equal(tmp_path / "roomy", tmp_path / "small")
    runtime = json.loads((tmp_path / "small" / "runtime.json").read_text())
    assert runtime["chunk_size_after_out_of_memory"] == {"cpu": 2}
    assert "out of memory on cpu with 8 images" in (tmp_path / "small" / "run.log").read_text()
