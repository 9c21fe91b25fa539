"""A `Table` as Markdown, CSV and LaTeX (booktabs), all printed from the same cells.

The CSV keeps full precision (mean and `_ci95` in separate columns); Markdown and LaTeX print the
same values rounded by one formatter, so the three files cannot disagree.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path

import pandas as pd

from clustercam.bench.report.tables import Column, Table

MISSING = "-"
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
LATEX_SYMBOLS = {"±": r"$\pm$", "<": r"$<$", ">": r"$>$"}


def _finite(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def cell(row: pd.Series, column: Column) -> str:
    """One printed cell: text as is, a number as `mean ± ci` at the column's decimals."""
    value = row[column.key]
    if column.decimals is None:
        return "" if pd.isna(value) else str(value)
    if not _finite(value):
        return MISSING
    text = f"{value:.{column.decimals}f}"
    ci = row.get(f"{column.key}_ci95") if column.ci else None
    return f"{text} ± {ci:.{column.decimals}f}" if _finite(ci) else text


def cells(table: Table) -> list[list[str]]:
    return [[cell(row, column) for column in table.columns] for _, row in table.data.iterrows()]


def group_breaks(table: Table) -> list[bool]:
    """For each row: does a new block (another run, or published rows) start here?"""
    keys = [key for key in table.break_on if key in table.data]
    values = [tuple(row) for row in table.data[keys].astype(str).itertuples(index=False)]
    return [i > 0 and values[i] != values[i - 1] for i in range(len(values))]


def to_markdown(table: Table) -> str:
    """Caption paragraph and a pipe table; numbers right-aligned."""
    header = [column.label for column in table.columns]
    align = ["---" if c.decimals is None else "---:" for c in table.columns]
    lines = [f"**Table {table.number}: {table.title}.** {table.caption}", ""]
    for row in [header, align, *cells(table)]:
        lines.append("| " + " | ".join(text.replace("|", "\\|") for text in row) + " |")
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escapes LaTeX specials, then writes ±, < and > in math mode."""
    escaped = re.sub(r"[\\&%$#_{}~^]", lambda m: LATEX_SPECIAL[m.group()], text)
    return re.sub("[±<>]", lambda m: LATEX_SYMBOLS[m.group()], escaped)


def to_latex(table: Table) -> str:
    """A booktabs table environment; rules between blocks (runs, published rows)."""
    spec = "".join("l" if c.decimals is None else "r" for c in table.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(table.caption)}}}",
        rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c.label) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for new_block, row in zip(group_breaks(table), cells(table)):
        if new_block:
            lines.append(r"\midrule")
        lines.append(" & ".join(latex_escape(text) for text in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    lines.insert(0, f"% Table {table.number}: {table.title}")
    return "\n".join(lines) + "\n"


def write_table(table: Table, out: Path) -> list[Path]:
    """Writes `<name>.md`, `<name>.csv` and `<name>.tex` under `out`; returns the paths."""
    paths = [out / f"{table.name}.{ext}" for ext in ("md", "csv", "tex")]
    paths[0].write_text(to_markdown(table))
    table.data.to_csv(paths[1], index=False)
    paths[2].write_text(to_latex(table))
    return paths
