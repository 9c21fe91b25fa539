"""The floors of the code: a module never imports one of a higher floor (README: What is here).

Floor 1: clustercam/*.py (the engine, the methods' base, Cluster-CAM). Floor 2: metrics/ and
baselines/, which build on floor 1 but not on each other. Floor 3: clustercam/bench/ (data sets,
zoo, experiment loop, run folder, report). scripts/ and run.py stand above all: they may import any
floor, but a script never imports another script nor edits sys.path (shared code lives in the
package).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("clustercam", "metrics", "baselines")


def floor(module: str) -> tuple[int, str] | None:
    """(floor, package) of a project module name; None for anything outside the project."""
    top = module.split(".")[0]
    if top not in PACKAGES:
        return None
    if module == "clustercam.bench" or module.startswith("clustercam.bench."):
        return 3, "clustercam.bench"
    return (1, "clustercam") if top == "clustercam" else (2, top)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            # `from clustercam import bench` imports clustercam.bench: count the names too.
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return found


def violations(root: Path) -> list[str]:
    """Every import under `root` that goes up a floor or sideways between floor-2 packages."""
    problems = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            own = floor(module_name(path, root))
            for line, name in imported_modules(path, root):
                target = floor(name)
                if own is None or target is None or target[1] == own[1]:
                    continue
                if target[0] > own[0] or (target[0] == own[0] == 2):
                    where = path.relative_to(root)
                    problems.append(f"{where}:{line} ({own[1]}, floor {own[0]}) imports {name}")
    return problems


def test_no_module_imports_a_higher_floor() -> None:
    assert violations(ROOT) == []


# Ways to load a file as a module without an import statement naming it.
LOADERS = ("spec_from_file_location", "SourceFileLoader", "run_path")


def script_violations(root: Path) -> list[str]:
    """Every script under root/scripts that imports another script (by name, relatively, or
    through a file loader) or touches sys.path."""
    scripts = root / "scripts"
    names = {path.stem for path in scripts.rglob("*.py")}
    problems = []
    for path in sorted(scripts.rglob("*.py")):
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                problems += [f"{where}:{line} imports the script {alias.name}"
                             for alias in node.names if alias.name.split(".")[0] in names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level or module.split(".")[0] in names:
                    problems.append(f"{where}:{line} imports the script {'.' * node.level}{module}")
                elif module == "sys" and any(alias.name == "path" for alias in node.names):
                    problems.append(f"{where}:{line} imports sys.path")
                elif any(alias.name in LOADERS for alias in node.names):
                    problems.append(f"{where}:{line} loads a file as a module ({module})")
            elif (isinstance(node, ast.Attribute) and node.attr == "path"
                  and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                problems.append(f"{where}:{line} uses sys.path")
            elif (isinstance(node, ast.Attribute) and node.attr in LOADERS) or (
                isinstance(node, ast.Name) and node.id in LOADERS
            ):
                problems.append(f"{where}:{line} loads a file as a module ({ast.unparse(node)})")
    return problems  # fmt: skip


def test_no_script_imports_another_script_or_edits_sys_path() -> None:
    assert (ROOT / "scripts" / "bench_speed.py").is_file()  # the checker looks in the right place
    assert script_violations(ROOT) == []


SCRIPTS = {
    "scripts/bench_speed.py": "import sys\nimport torch\nfrom clustercam.bench import timing\n"
    "print(sys.argv)\n",
    "scripts/profile_scoring.py": "import importlib.util\nimportlib.util.find_spec('torchcam')\n",
}


def test_script_checker_passes_clean_scripts(tmp_path: Path) -> None:
    plant(tmp_path, SCRIPTS)
    assert script_violations(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("from bench_speed import floor_seconds\n", "imports the script bench_speed"),
        ("import bench_speed as speed\n", "imports the script bench_speed"),
        ("from . import bench_speed\n", "imports the script ."),
        ("import sys\nsys.path.insert(0, 'scripts')\n", "uses sys.path"),
        ("import sys\nif True:\n    sys.path.append('.')\n", "uses sys.path"),
        ("from sys import path\npath.append('.')\n", "imports sys.path"),
        ("import runpy\nrunpy.run_path('scripts/bench_speed.py')\n", "loads a file"),
        ("from importlib.util import spec_from_file_location\n", "loads a file"),
    ],
)
def test_script_checker_finds_a_planted_script_import(
    tmp_path: Path, text: str, problem: str
) -> None:
    plant(tmp_path, {**SCRIPTS, "scripts/profile_scoring.py": text})
    found = script_violations(tmp_path)
    assert found and all(f.startswith("scripts/profile_scoring.py") for f in found), found
    assert problem in found[0], found


def plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


CLEAN = {
    "clustercam/__init__.py": "from clustercam.cam_method import X\n",
    "clustercam/cam_method.py": "import torch\n",
    "metrics/__init__.py": "from clustercam.scoring import class_scores\n",
    "baselines/gradcam.py": "from ..clustercam import base\nfrom clustercam.cam_method import X\n",
    "clustercam/bench/__init__.py": "from metrics import auc\nfrom baselines import gradcam\n",
    "clustercam/bench/report/tables.py": "from ..stats import mean_ci\n",
}


def test_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    plant(tmp_path, CLEAN)
    assert violations(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "text", "imported"),
    [
        ("clustercam/map_ops.py", "from clustercam.bench import zoo\n", "clustercam.bench"),
        ("clustercam/cost.py", "from clustercam import bench\n", "clustercam.bench"),
        ("clustercam/scoring.py", "import metrics.causal\n", "metrics.causal"),
        ("metrics/causal.py", "from baselines.gradcam import GradCAM\n", "baselines.gradcam"),
        ("baselines/rise.py", "from metrics import auc\n", "metrics.auc"),
        ("metrics/confidence.py", "from clustercam.bench.run_folder import X\n", "clustercam.bench"),  # noqa: E501
        # The top floor may import anything below it.
        ("clustercam/bench/run_folder.py", "from metrics import auc\nimport baselines\n", None),
        ("clustercam/cam_method.py", "from .bench import data\n", "clustercam.bench.data"),
    ],
)
def test_checker_finds_a_planted_upward_import(
    tmp_path: Path, name: str, text: str, imported: str | None
) -> None:
    plant(tmp_path, {**CLEAN, name: CLEAN.get(name, "") + text})
    found = violations(tmp_path)
    if imported is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(name), found
        assert imported in found[0]


# The experiment loop is imported by what runs it (bench.run_command, behind run.py) and by
# nothing else: validation, merge and the scripts build what they need through
# clustercam.bench.build.
LOOP = "clustercam.bench.experiment"
LOOP_IMPORTERS = ("clustercam/bench/run_command.py",)


def loop_importers(root: Path) -> list[str]:
    """Every import of the experiment loop in `root`'s packages, scripts and run.py."""
    paths = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))]
    paths += sorted((root / "scripts").rglob("*.py")) + sorted(root.glob("*.py"))
    problems = []
    for path in paths:
        where = path.relative_to(root)
        if where.as_posix() in LOOP_IMPORTERS:
            continue
        for line, name in imported_modules(path, root):
            if name == LOOP or name.startswith(f"{LOOP}."):
                problems.append(f"{where}:{line} imports {name}")
    return problems


def test_only_cli_imports_the_experiment_loop() -> None:
    assert (ROOT / LOOP_IMPORTERS[0]).is_file()
    assert loop_importers(ROOT) == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("clustercam/bench/validate.py", "from clustercam.bench.experiment import run\n"),
        ("clustercam/bench/merge.py", "from .experiment import method_configs\n"),
        ("clustercam/bench/gather.py", "from clustercam.bench import experiment\n"),
        ("scripts/bench_speed.py", "import clustercam.bench.experiment as loop\n"),
        ("run.py", "from clustercam.bench.experiment import run\n"),
    ],
)
def test_loop_checker_finds_a_planted_import(tmp_path: Path, name: str, text: str) -> None:
    plant(tmp_path, {**CLEAN, "clustercam/bench/run_command.py": f"import {LOOP}\n", name: text})
    found = loop_importers(tmp_path)
    assert len(found) == 1 and found[0].startswith(name), found


# The run folder has one reader and writer: clustercam.bench.run_folder. Anything else that opens
# per_image.csv or curves.jsonl itself is a second reader, which drifts (NaN curves, columns added
# since, partial lines of a run still writing).
RUN_FOLDER = "clustercam/bench/run_folder.py"
RUN_FILES = {"PER_IMAGE", "CURVES", "per_image.csv", "curves.jsonl"}
READERS = {"read_csv", "open", "read_text", "read_bytes", "DictReader", "reader", "read_json"}


def run_file_readers(root: Path) -> list[str]:
    """Every call outside the run folder's module that reads per_image.csv or curves.jsonl."""
    paths = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))]
    paths += sorted((root / "scripts").rglob("*.py")) + sorted(root.glob("*.py"))
    problems = []
    for path in paths:
        where = path.relative_to(root)
        if where.as_posix() == RUN_FOLDER:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            mentioned = {
                getattr(inner, "id", None) or getattr(inner, "attr", None)
                or getattr(inner, "value", None)
                for inner in ast.walk(node)
                if isinstance(inner, (ast.Name, ast.Attribute, ast.Constant))
            }
            if called in READERS and mentioned & RUN_FILES:
                problems.append(f"{where}:{node.lineno} reads {ast.unparse(node)}")
    return problems


def test_only_the_run_folder_module_reads_run_files() -> None:
    assert (ROOT / RUN_FOLDER).is_file()
    assert run_file_readers(ROOT) == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("clustercam/bench/report/runs.py", "pd.read_csv(path / PER_IMAGE, dtype=T)\n"),
        ("clustercam/bench/report/figures.py", "with open(run.path / 'curves.jsonl') as f: pass\n"),
        ("scripts/compare_runs.py", "(run / run_folder.PER_IMAGE).read_text()\n"),
        ("run.py", "csv.DictReader(open(folder / 'per_image.csv'))\n"),
    ],
)
def test_run_file_checker_finds_a_planted_reader(tmp_path: Path, name: str, text: str) -> None:
    plant(tmp_path, {**CLEAN, RUN_FOLDER: "pd.read_csv(path / PER_IMAGE)\n", name: text})
    found = run_file_readers(tmp_path)
    assert found and all(f.startswith(name) for f in found), found


def test_the_run_folder_module_loads_no_config_machinery() -> None:
    """Reading a run folder (e.g. `forget`, the scripts' cost readers) needs no Hydra."""
    code = (
        "import sys, clustercam.bench.run_folder; "
        "print(sorted(m for m in ('hydra', 'omegaconf') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "[]"
