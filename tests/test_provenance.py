"""Where a run's numbers came from (runtime.json's `starts`, printed under every report table),
and the run folder's lock (filelock): one writer at a time, freed when its process dies."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from runner_support import ROOT, TINY, compose_config, make_image_folder

from clustercam.bench import devices
from clustercam.bench.devices import git_state, provenance
from clustercam.bench.errors import ConfigError
from clustercam.bench.experiment import run
from clustercam.bench.report.render import to_latex, to_markdown
from clustercam.bench.report.runs import NOT_RECORDED, load_run
from clustercam.bench.report.tables import causal_table, cost_table
from clustercam.bench.run_folder import (
    CHUNK_LIMITS,
    LOCK,
    RUNTIME,
    STARTS,
    RunRecords,
    check_unlocked,
    forget,
)

KEYS = {
    "started", "versions", "python", "device", "card", "torch_cuda", "precision", "commit",
    "dirty", "argv",
}  # fmt: skip
REFUSED = "another run is writing to"


def tiny_run(tmp_path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two images of the generated folder through the tiny model, started as `argv`."""
    images = tmp_path / "images"
    if not images.exists():
        make_image_folder(images)
    monkeypatch.setattr(sys, "argv", argv)
    cfg = compose_config(*TINY, "data=imagefolder", f"data.root={images}", "data.n_images=2")
    run(cfg, tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run started, then started again on its finished folder (a resume)."""
    tmp_path = tmp_path_factory.mktemp("provenance")
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = json.loads((tiny_run(tmp_path, ["first"], monkeypatch) / RUNTIME).read_text())
        (tmp_path / "first_runtime.json").write_text(json.dumps(first))
        return tiny_run(tmp_path, ["second", "start"], monkeypatch)


def test_a_run_records_where_it_ran(resumed: Path) -> None:
    runtime = json.loads((resumed / RUNTIME).read_text())
    assert runtime[CHUNK_LIMITS] == {}  # no out-of-memory back-off on the tiny model
    start = runtime[STARTS][0]
    assert set(start) == KEYS
    assert start["versions"]["torch"] == torch.__version__
    assert set(start["versions"]) == {"torch", "torchvision", "timm", "clustercam-bench"}
    assert start["versions"]["clustercam-bench"]  # installed (editable) in the test environment
    assert (start["device"], start["precision"]) == ("cpu", "fp32")
    assert start["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(start["card"], str)
    assert start["commit"] is None or re.fullmatch("[0-9a-f]{40}", start["commit"])
    assert start["dirty"] in (None, True, False)


def test_a_resumed_run_keeps_the_first_start(resumed: Path) -> None:
    first = json.loads((resumed.parent / "first_runtime.json").read_text())
    starts = json.loads((resumed / RUNTIME).read_text())[STARTS]
    assert [start["argv"] for start in starts] == [["first"], ["second", "start"]]
    assert starts[0] == first[STARTS][0]


def test_the_report_prints_the_provenance_under_its_tables(resumed: Path) -> None:
    run_record = load_run(resumed)
    for table in (causal_table([run_record]), cost_table([run_record])):
        markdown = to_markdown(table)
        lines = markdown.splitlines()
        last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
        under = lines[last_row + 1 :]
        line = next(line for line in under if line.startswith("- Run run: "))
        assert f"torch {torch.__version__}, " in line
        for name in ("torchvision", "timm"):
            assert f"{name} {run_record.starts[0]['versions'][name]}" in line
        assert ", cpu (" in line and ", fp32" in line
        assert ("commit " in line) or ("no git commit" in line)
        assert "(2 starts)" in line  # both starts ran on the same setting
        assert f"% {table.provenance[0]}" in to_latex(table)


def test_a_run_without_runtime_json_says_so(resumed: Path, tmp_path: Path) -> None:
    old = tmp_path / "old_run"
    shutil.copytree(resumed, old, ignore=shutil.ignore_patterns(RUNTIME, LOCK))
    markdown = to_markdown(causal_table([load_run(old)]))
    assert f"- Run old_run: {NOT_RECORDED}" in markdown
    assert NOT_RECORDED == "provenance not recorded (run predates it)"


def test_a_start_on_another_setting_is_named(resumed: Path, tmp_path: Path) -> None:
    """The numbers of a run resumed elsewhere come from both places: the line names both."""
    moved = tmp_path / "moved"
    shutil.copytree(resumed, moved, ignore=shutil.ignore_patterns(LOCK))
    runtime = json.loads((moved / RUNTIME).read_text())
    first, later = runtime[STARTS]
    first.update(commit="abcdef0123456789" + "0" * 24, dirty=False)
    later.update(device="cuda:0", card="NVIDIA H200", precision="fp32", commit=None, dirty=None)
    later["versions"] = {**later["versions"], "torch": "9.9.9"}
    (moved / RUNTIME).write_text(json.dumps(runtime))
    line = load_run(moved).provenance()
    assert line.startswith(f"Run moved: torch {torch.__version__}, ")
    assert ", commit abcdef0; resumed under torch 9.9.9, " in line
    assert line.endswith(", cuda:0 (NVIDIA H200), fp32, no git commit")


def test_git_state_without_a_checkout_or_without_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "clustercam" / "bench"
    folder.mkdir(parents=True)
    assert git_state(folder) == (None, None)  # no repository there
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no git at all
    assert git_state(Path(devices.__file__).parent) == (None, None)
    record = provenance(torch.device("cpu"), "fp32")
    assert (record["commit"], record["dirty"]) == (None, None)
    assert record["versions"]["torch"] == torch.__version__


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="no git")
def test_git_state_of_this_checkout() -> None:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        pytest.skip("git cannot read this checkout")
    commit, dirty = git_state(Path(devices.__file__).parent)
    assert commit == head.stdout.strip()
    assert dirty in (True, False)


CONFIG = {"model": {"name": "tiny"}, "seed": 0}


def test_a_second_writer_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    first = RunRecords(folder, ["clustercam"], CONFIG)
    with pytest.raises(ConfigError, match=f"{REFUSED} {re.escape(str(folder))}; wait for it"):
        RunRecords(folder, ["clustercam"], CONFIG)
    with pytest.raises(ConfigError, match=REFUSED):
        check_unlocked(folder)
    with pytest.raises(ConfigError, match=REFUSED):
        forget(folder, ["clustercam"])
    first.close()
    check_unlocked(folder)
    with RunRecords(folder, ["clustercam"], CONFIG) as second:
        assert second.missing("img0") == ["clustercam"]
    assert forget(folder) == 0  # forget takes and frees the lock too
    RunRecords(folder, ["clustercam"], CONFIG).close()


def test_a_refused_config_frees_the_lock(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    RunRecords(folder, ["clustercam"], CONFIG).close()
    with pytest.raises(ConfigError, match="another config"):
        RunRecords(folder, ["clustercam"], {**CONFIG, "seed": 1})
    check_unlocked(folder)


def test_checking_the_lock_writes_nothing(tmp_path: Path) -> None:
    check_unlocked(tmp_path)
    assert list(tmp_path.iterdir()) == []


HOLDER = """
import sys, time
from pathlib import Path
from clustercam.bench.run_folder import LOCK, _lock
lock = _lock(Path(sys.argv[1]) / LOCK)
print("held", flush=True)
time.sleep(120)
"""


def test_a_killed_writer_frees_the_folder(tmp_path: Path) -> None:
    """Another process holds the lock: refused; killed with SIGKILL: the folder opens."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(ConfigError, match=REFUSED):
            RunRecords(folder, ["clustercam"], CONFIG)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    RunRecords(folder, ["clustercam"], CONFIG).close()
