"""The run folder's one owner: what a run leaves in its directory, written so that a run killed
at any point can go on, and read back by the runner, merge, `forget`, the report and the scripts;
its lock and its resuming. Its summaries (tables, Markdown): clustercam.bench.summaries.

Per image, in this order: its maps (`maps/<image_id>.npz`, optional), its curves (one JSON line per
method in `curves.jsonl`), then its rows (one per method in `per_image.csv`). Each file is flushed
after every image, so a row marks its (image, method) pair complete: on resume, trailing partial
lines are dropped, curves without a row are forgotten, and only the missing (image, method) pairs
are explained again. `forget` removes one method's records, so that a resumed run explains that
method alone again (e.g. after a fix to it). A finished run's files are in data-set order, methods
in run order, however it was interrupted. The summary is computed from `per_image.csv` alone, so a
resumed run ends with the same tables as an uninterrupted one. `runtime.json` keeps what does not
change results: where every start of the run ran (package versions, device, commit, command line;
a list, oldest first) and the chunk sizes it backed off to after running out of memory. One
process at a time writes a folder: `.lock` holds an flock (filelock) that dies with the process.

The columns are declared in clustercam.bench.columns. Importing this module loads no Hydra: the
lock's error is clustercam.bench.errors'.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock, Timeout

from clustercam.bench.columns import (
    ALL_COLUMNS,
    COLUMNS,
    READ_TYPES,
    enabled_groups,
    run_columns,
)
from clustercam.bench.errors import ConfigError

# Config keys that may change between an interrupted run and its resumption: they change where
# and how fast the work runs, never its results.
RESUMABLE_KEYS = frozenset(
    {"device", "batch_size", "chunk_size", "num_workers", "warmup", "overview_images",
     "max_cpu_minutes"}
)
# Keys added to the config since older run folders were written, and the value those runs had.
ADDED_KEYS: dict[str, Any] = {
    "precision": "fp32",
    "data.boxes": None,
    "metrics.localization.metrics": [],
    "metrics.localization.tolerance": 15,
    "metrics.localization.cam_threshold": 0.15,
    "metrics.localization.iou_threshold": 0.5,
}

PER_IMAGE, CURVES, CONFIG, SETUP = "per_image.csv", "curves.jsonl", "config.yaml", "setup_cost.json"
SUMMARY_CSV, SUMMARY_MD, MAPS, LOCK = "summary.csv", "summary.md", "maps", ".lock"
RUNTIME = "runtime.json"
# runtime.json's keys: the chunk sizes backed off to after running out of memory (by device), and
# where each start of the run ran (devices.provenance), one entry per start, oldest first.
CHUNK_LIMITS, STARTS = "chunk_size_after_out_of_memory", "starts"


class RunRecords:
    """The files of one run directory, opened for appending; see the module docstring.

    `config` is the run's resolved config: a new directory stores it, an existing one must hold
    the same (up to RESUMABLE_KEYS), else the run stops rather than mix two experiments. Its
    `metrics` node says which columns per_image.csv has (columns.enabled_groups).
    """

    def __init__(self, run_dir: Path, methods: Sequence[str], config: Mapping[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.methods = list(methods)
        self.columns = run_columns(enabled_groups(config.get("metrics") or {}))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.run_dir / LOCK)
        try:
            _store_or_check_config(self.run_dir / CONFIG, config)
            self.recovered_rows = self._recover()
        except BaseException:
            self._lock.release()
            raise
        self.recorded: dict[str, set[str]] = {}
        for row in self.recovered_rows:
            self.recorded.setdefault(row["image_id"], set()).add(row["method"])
        self.setup_costs: dict[str, dict[str, float]] = {}
        if (self.run_dir / SETUP).exists():
            self.setup_costs = json.loads((self.run_dir / SETUP).read_text())
        new_table = not _complete_lines(self.run_dir / PER_IMAGE)
        # Open for the whole run (closed by close()), so that every image costs one write each.
        mode = "w" if new_table else "a"
        self._rows_file = open(self.run_dir / PER_IMAGE, mode, newline="")  # noqa: SIM115
        self._curves_file = open(self.run_dir / CURVES, "a")  # noqa: SIM115
        self._writer = csv.writer(self._rows_file, lineterminator="\n")
        if new_table:
            self._writer.writerow(self.columns)
            self._rows_file.flush()

    def _recover(self) -> list[dict[str, str]]:
        """Rows of the (image, method) pairs that finished; rewrites the files without anything
        else."""
        rows_path, curves_path = self.run_dir / PER_IMAGE, self.run_dir / CURVES
        kept_rows = _rows(rows_path, self.columns)
        # An older run lacks newer columns (e.g. `tail`): its rows are rewritten with the current
        # header, those columns empty.
        old_header = _header(rows_path) not in (None, list(self.columns))
        if _has_partial(rows_path) or old_header:
            write_table(rows_path, kept_rows)
        kept_curves = finished_curves(self.run_dir, _pairs(kept_rows))
        if len(kept_curves) < len(_complete_lines(curves_path)) or _has_partial(curves_path):
            _replace(curves_path, "".join(line + "\n" for line in kept_curves))
        for leftover in (self.run_dir / MAPS).glob("*.tmp"):
            leftover.unlink()
        return kept_rows

    def missing(self, image_id: str) -> list[str]:
        """The methods (in run order) that have no record of the image yet."""
        recorded = self.recorded.get(image_id, set())
        return [method for method in self.methods if method not in recorded]

    def add_image(
        self,
        rows: Sequence[Mapping[str, Any]],
        curves: Sequence[Mapping[str, Any]],
        maps: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Records one finished image: maps, then curves, then rows, each flushed."""
        image_id = rows[0]["image_id"]
        if maps:
            folder = self.run_dir / MAPS
            folder.mkdir(exist_ok=True)
            path = folder / f"{image_id}.npz"
            # Methods explained before an interruption (or kept by `forget`) keep their maps.
            kept = dict(np.load(path)) if path.exists() else {}
            _write_maps(path, {**kept, **{k: v.astype(np.float16) for k, v in maps.items()}})
        self._curves_file.writelines(json.dumps(dict(c)) + "\n" for c in curves)
        self._curves_file.flush()
        cells = [[_cell(row.get(c)) for c in self.columns] for row in rows]
        self._writer.writerows(cells)
        self._rows_file.flush()
        self.recorded.setdefault(image_id, set()).update(row["method"] for row in rows)

    def add_setup_cost(self, method: str, cost: Mapping[str, float]) -> None:
        """The once-per-model cost of a method (e.g. a reference image's scores, the warm-up's
        `warmup_seconds`); keys not given keep their recorded values."""
        merged = {**self.setup_costs.get(method, {}), **cost}
        if self.setup_costs.get(method) != merged:
            self.setup_costs[method] = merged
            _replace(self.run_dir / SETUP, json.dumps(self.setup_costs, indent=1))

    def add_chunk_limits(self, limits: Mapping[str, int]) -> None:
        """Chunk sizes the scoring engine backed off to after running out of memory, by device,
        in runtime.json (the smallest over every start of the run); results do not depend on them.
        """
        runtime = read_runtime(self.run_dir)
        known = runtime.get(CHUNK_LIMITS, {})
        merged = smallest_chunks([known, limits])
        if merged != known:
            runtime[CHUNK_LIMITS] = merged
            _replace(self.run_dir / RUNTIME, json.dumps(runtime, indent=1))

    def add_start(self, record: Mapping[str, Any]) -> None:
        """Appends where this start of the run ran (`devices.provenance`) to runtime.json's
        `starts`: every start is kept, oldest first, so a resumed run never loses the record of
        the start that explained its first images."""
        runtime = read_runtime(self.run_dir)
        # An empty chunk record too: merging shards reads that key from every runtime.json.
        runtime.setdefault(CHUNK_LIMITS, {})
        runtime[STARTS] = [*runtime.get(STARTS, []), dict(record)]
        _replace(self.run_dir / RUNTIME, json.dumps(runtime, indent=1))

    def put_in_order(self, image_ids: Sequence[str]) -> None:
        """Rewrites per_image.csv and curves.jsonl in data-set order, methods in run order, if
        resuming (e.g. after `forget`) left them otherwise; an uninterrupted run's already are."""
        rank = order_key(image_ids, self.methods)
        rows = _rows(self.run_dir / PER_IMAGE, self.columns)
        ordered = sorted(rows, key=rank)
        if ordered != rows:
            self._rows_file.close()
            write_table(self.run_dir / PER_IMAGE, ordered)
            self._rows_file = open(self.run_dir / PER_IMAGE, "a", newline="")  # noqa: SIM115
            self._writer = csv.writer(self._rows_file, lineterminator="\n")
        lines = _complete_lines(self.run_dir / CURVES)
        ordered_lines = sorted(lines, key=lambda line: rank(json.loads(line)))
        if ordered_lines != lines:
            self._curves_file.close()
            _replace(self.run_dir / CURVES, "".join(line + "\n" for line in ordered_lines))
            self._curves_file = open(self.run_dir / CURVES, "a")  # noqa: SIM115

    def close(self) -> None:
        self._rows_file.close()
        self._curves_file.close()
        self._lock.release()

    def __enter__(self) -> RunRecords:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_per_image(run_dir: Path) -> pd.DataFrame:
    """per_image.csv with `skipped` as strings ('' when the row was scored), classes as Int64;
    a column that an older run did not write (e.g. `tail`) reads as NaN."""
    table = pd.read_csv(Path(run_dir) / PER_IMAGE, dtype=READ_TYPES)
    for column in COLUMNS:
        if column not in table:
            table[column] = np.nan
    table["skipped"] = table["skipped"].fillna("")
    return table


COST_COLUMNS = ["seconds", "metric_seconds", "forward", "metric_forward", "tail"]


def read_runtime(run_dir: Path) -> dict[str, Any]:
    """runtime.json of a run folder (see CHUNK_LIMITS, STARTS); {} when there is none."""
    path = Path(run_dir) / RUNTIME
    return json.loads(path.read_text()) if path.exists() else {}


def method_costs(run_dir: Path) -> pd.DataFrame:
    """Per method (in run order): the images it explained and the mean of each COST_COLUMNS over
    them; what speed reports and GPU-hour estimates read from a run (one cut short too)."""
    rows = read_per_image(run_dir).dropna(subset=["seconds", "metric_seconds"])
    if rows.empty:  # unreadable images cost nothing; invalid maps did cost their method's time
        raise ValueError(f"{run_dir} has no explained image in its per-image records to measure")
    by_method = rows.groupby("method", sort=False)
    return by_method[COST_COLUMNS].mean().assign(images=by_method.size())


def finished_rows(run_dir: Path, methods: Sequence[str]) -> list[dict[str, str]]:
    """The rows (as written, text cells) of the images that have a row for every method.

    Reads only: safe on the folder of a run that is still writing.
    """
    rows = _rows(Path(run_dir) / PER_IMAGE)
    methods_of: dict[str, set[str]] = {}
    for row in rows:
        methods_of.setdefault(row["image_id"], set()).add(row["method"])
    complete = {i for i, found in methods_of.items() if found >= set(methods)}
    return [row for row in rows if row["image_id"] in complete]


def read_curves(run_dir: Path) -> list[dict[str, Any]]:
    """The records of curves.jsonl (image_id, method, deletion, insertion), a partial last line
    (a run still writing) left out; [] when the run saved none."""
    return [json.loads(line) for line in _complete_lines(Path(run_dir) / CURVES) if line.strip()]


def finished_curves(run_dir: Path, pairs: Container[tuple[str, str]]) -> list[str]:
    """The complete lines of curves.jsonl whose (image_id, method) is in `pairs`, as written."""
    lines = _complete_lines(Path(run_dir) / CURVES)
    return [line for line in lines if _pair(json.loads(line)) in pairs]


def order_key(
    image_ids: Sequence[str], methods: Sequence[str]
) -> Callable[[Mapping[str, Any]], tuple[int, int]]:
    """Sort key of a row or curve: its image in data-set order, then its method in run order
    (anything unknown last)."""
    image_rank = {image_id: rank for rank, image_id in enumerate(image_ids)}
    method_rank = {method: rank for rank, method in enumerate(methods)}
    return lambda record: (
        image_rank.get(record["image_id"], len(image_rank)),
        method_rank.get(record["method"], len(method_rank)),
    )


def forget(
    run_dir: Path, methods: Sequence[str] | None = None, images: Sequence[str] | None = None
) -> int:
    """Removes the records of `methods` on `images` (None: all of them) from a run folder: rows,
    curves, maps, and the now stale summary (and the methods' setup costs when every image is
    forgotten), so that resuming the run explains those pairs again and nothing else.
    Returns the number of rows removed. Refuses a folder another process is writing to."""
    run_dir = Path(run_dir)
    if not (run_dir / PER_IMAGE).exists():
        raise ValueError(f"{run_dir} holds no {PER_IMAGE}: not a run folder")
    with _locked(run_dir / LOCK):
        rows = _rows(run_dir / PER_IMAGE)
        for what, asked, known in (
            ("method", methods, list(dict.fromkeys(row["method"] for row in rows))),
            ("image", images, list(dict.fromkeys(row["image_id"] for row in rows))),
        ):
            unknown = [name for name in asked or () if name not in known]
            if unknown:
                raise ValueError(
                    f"{run_dir} has no records of {what} {', '.join(unknown)}; its {what}s: "
                    f"{', '.join(known)}"
                )
        gone_methods = set(methods) if methods is not None else None
        gone_images = set(images) if images is not None else None

        def gone(image_id: str, method: str) -> bool:
            return (gone_methods is None or method in gone_methods) and (
                gone_images is None or image_id in gone_images
            )

        kept = [row for row in rows if not gone(row["image_id"], row["method"])]
        write_table(run_dir / PER_IMAGE, kept)
        lines = finished_curves(run_dir, _pairs(kept))
        _replace(run_dir / CURVES, "".join(line + "\n" for line in lines))
        for path in sorted((run_dir / MAPS).glob("*.npz")):
            with np.load(path) as stored:
                maps = {name: stored[name] for name in stored.files if not gone(path.stem, name)}
                changed = len(maps) < len(stored.files)
            if changed:
                _write_maps(path, maps) if maps else path.unlink()
        if (run_dir / SETUP).exists() and gone_images is None:  # a method forgotten everywhere
            costs = json.loads((run_dir / SETUP).read_text())
            kept_costs = {m: c for m, c in costs.items() if gone_methods and m not in gone_methods}
            _replace(run_dir / SETUP, json.dumps(kept_costs, indent=1))
        for stale in (SUMMARY_CSV, SUMMARY_MD):
            (run_dir / stale).unlink(missing_ok=True)
    return len(rows) - len(kept)


def config_differences(
    first: Mapping[str, Any], second: Mapping[str, Any], also_ignored: Iterable[str] = ()
) -> list[str]:
    """Dotted keys whose values differ, apart from RESUMABLE_KEYS and the `also_ignored` keys (and
    the keys below them)."""
    before, now, ignored = _flatten(first), _flatten(second), set(also_ignored)
    before = {**{k: v for k, v in ADDED_KEYS.items() if k in now}, **before}
    now = {**{k: v for k, v in ADDED_KEYS.items() if k in before}, **now}
    return sorted(
        key
        for key in before.keys() | now.keys()
        if key.rsplit(".", 1)[-1] not in RESUMABLE_KEYS
        and key not in ignored
        and not any(key.startswith(f"{prefix}.") for prefix in ignored)
        and before.get(key) != now.get(key)
    )


def write_table(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    """per_image.csv from rows of text cells (as finished_rows gives them), atomically; the
    columns are the rows' own (the default run's when there are none)."""
    columns = list(rows[0]) if rows else list(COLUMNS)
    _replace(path, _csv_text([columns, *([row[c] for c in columns] for row in rows)]))






def smallest_chunks(limits: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The smallest chunk size each device backed off to, over several records of it."""
    smallest: dict[str, int] = {}
    for found in limits:
        for device, size in found.items():
            smallest[device] = min(smallest.get(device, size), size)
    return smallest








def _cell(value: Any) -> str:
    """CSV text of one value: '' for missing or NaN, shortest round-trip text for floats (numpy's
    too: repr(np.float64(0.5)) is 'np.float64(0.5)', which no CSV reader takes for a number)."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _complete_lines(path: Path) -> list[str]:
    """The lines of `path` that end in a newline; a partial last line (killed mid-write) goes."""
    if not path.exists():
        return []
    return path.read_text().split("\n")[:-1]


def _header(path: Path) -> list[str] | None:
    lines = _complete_lines(path)
    return lines[0].split(",") if lines else None


def _rows(path: Path, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """The complete rows of a per_image.csv, text cells, with `columns` (by default the default
    run's and the file's own): an older run's rows get the columns added since (e.g. `tail`)
    empty; unknown columns are an error."""
    lines = _complete_lines(path)
    header = lines[0].split(",") if lines else list(COLUMNS)
    if columns is None:
        columns = [c for c in ALL_COLUMNS if c in COLUMNS or c in header]
    unknown = [c for c in header if c not in ALL_COLUMNS]
    if unknown:
        raise ValueError(
            f"{path} has columns this version does not know ({', '.join(unknown)}); "
            "resume it with the version that started it, or choose a new run dir"
        )
    rows = csv.DictReader(lines[1:], fieldnames=header)
    return [{c: row.get(c) or "" for c in columns} for row in rows]


def _pair(record: Mapping[str, Any]) -> tuple[str, str]:
    return record["image_id"], record["method"]


def _pairs(rows: Iterable[Mapping[str, str]]) -> set[tuple[str, str]]:
    return {_pair(row) for row in rows}


def _write_maps(path: Path, maps: Mapping[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **maps)
    _replace(path, buffer.getvalue())


def _has_partial(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")


def _replace(path: Path, content: str | bytes) -> None:
    """Writes `path` atomically: a kill leaves the old file or the new one, never half of one."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb" if isinstance(content, bytes) else "w") as handle:
        handle.write(content)
    os.replace(temporary, path)


def check_unlocked(run_dir: Path) -> None:
    """Refuses a run folder another process is writing to, without writing anything."""
    path = Path(run_dir) / LOCK
    if path.exists():
        _lock(path).release()


def _lock(path: Path) -> FileLock:
    """An exclusive lock on the run directory, taken now or refused (ConfigError), held until
    `release()`: flock through filelock, so the kernel frees it when the process dies, even by
    kill -9. A second lock on the folder is refused in this process too."""
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(
            f"another run is writing to {path.parent}; wait for it, or choose another run dir"
        ) from None
    return lock


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """`_lock` held for a `with` block."""
    lock = _lock(path)
    try:
        yield
    finally:
        lock.release()


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _store_or_check_config(path: Path, config: Mapping[str, Any]) -> None:
    """Stores the config of a new run; an existing run must hold the same, but for the options of
    methods without records (e.g. after `forget`), which the new config replaces."""
    if not path.exists() or check_resumable(path.parent, config):
        _replace(path, yaml.safe_dump(dict(config), sort_keys=False))


def check_resumable(run_dir: Path, config: Mapping[str, Any]) -> bool:
    """Refuses a run folder that holds another experiment's config (RESUMABLE_KEYS aside). The
    options of a method with no record yet may differ: nothing was measured with them. Returns
    whether they do (the stored config is then out of date)."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        return False
    stored = yaml.safe_load(path.read_text())
    if not config_differences(stored, config):
        return False  # the usual resume: no need to read the records
    unrecorded = _unrecorded_method_keys(stored, Path(run_dir))
    changed = config_differences(stored, config, also_ignored=unrecorded)
    if changed:
        raise ConfigError(
            f"{path.parent} holds a run with another config (differs in {', '.join(changed)}); "
            "resume with the same command, or choose a new run dir"
        )
    return True


def _unrecorded_method_keys(config: Mapping[str, Any], run_dir: Path) -> list[str]:
    """Config keys (`method`, `methods.<key>`) of the methods that have no row in the run."""
    recorded = {row["method"] for row in _rows(run_dir / PER_IMAGE)}
    entries = [("method", config.get("method") or {})]
    entries += [(f"methods.{key}", node) for key, node in (config.get("methods") or {}).items()]
    return [
        key for key, node in entries
        if (node.get("name") or key.rsplit(".", 1)[-1]) not in recorded
    ]  # fmt: skip
