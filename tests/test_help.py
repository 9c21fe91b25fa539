"""Every command a person may type answers --help: run.py (its groups, without internal ones) and
each scripts/*.py, whose every option says what it does."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def answer(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_run_py_help_lists_the_groups_a_person_chooses() -> None:
    done = answer("run.py", "--help")
    assert done.returncode == 0, done.stderr
    groups = {line.split(":")[0] for line in done.stdout.splitlines() if ": " in line}
    assert {"data", "experiment", "method", "metrics", "model"} <= groups
    assert "shared" not in groups and "metrics_base" not in done.stdout
    assert "compare_fast" in done.stdout and "files" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_script_answers_help(script: Path) -> None:
    done = answer(str(script), "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: "), done.stdout[:200]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_option_has_a_help_text(script: Path) -> None:
    calls = [
        node
        for node in ast.walk(ast.parse(script.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_argument"
    ]
    bare = [ast.unparse(c.args[0]) for c in calls if not any(k.arg == "help" for k in c.keywords)]
    assert not bare, f"{script.name}: options without help: {', '.join(bare)}"
