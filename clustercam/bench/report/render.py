"""A `Table` as Markdown, CSV and LaTeX (booktabs), all printed from the same cells by pandas.

The CSV keeps full precision (mean and `_ci95` in separate columns); Markdown and LaTeX print the
same values rounded by one formatter, so the three files cannot disagree.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
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


def printed(table: Table, text: Callable[[str], str] = str) -> pd.DataFrame:
    """The printed cells under the columns' labels, each passed through `text` (an escaper)."""
    body = [[text(cell(row, c)) for c in table.columns] for _, row in table.data.iterrows()]
    return pd.DataFrame(body, columns=[text(column.label) for column in table.columns])


def group_breaks(table: Table) -> list[bool]:
    """For each row: does a new block (another run, or published rows) start here?"""
    keys = [key for key in table.break_on if key in table.data]
    values = [tuple(row) for row in table.data[keys].astype(str).itertuples(index=False)]
    return [i > 0 and values[i] != values[i - 1] for i in range(len(values))]


def to_markdown(table: Table) -> str:
    """Caption paragraph, a pipe table (pandas + tabulate; numbers right-aligned), then where
    each run's numbers came from, one list item per run."""
    cells = printed(table, lambda text: text.replace("|", "\\|"))
    align = ["left" if c.decimals is None else "right" for c in table.columns]
    pipe = cells.to_markdown(index=False, colalign=align, disable_numparse=True)
    text = f"**Table {table.number}: {table.title}.** {table.caption}\n\n{pipe}\n"
    if table.provenance:
        text += "\n" + "".join(f"- {line}\n" for line in table.provenance)
    return text


def latex_escape(text: str) -> str:
    """Escapes LaTeX specials, then writes ±, < and > in math mode."""
    escaped = re.sub(r"[\\&%$#_{}~^]", lambda m: LATEX_SPECIAL[m.group()], text)
    return re.sub("[±<>]", lambda m: LATEX_SYMBOLS[m.group()], escaped)


def to_latex(table: Table) -> str:
    """A booktabs table environment (pandas' Styler); rules between blocks (runs, published)."""
    latex = (
        printed(table, latex_escape)
        .style.hide(axis="index")
        .to_latex(
            caption=latex_escape(table.caption),
            label=f"tab:{table.name}",
            hrules=True,
            position="t",
            position_float="centering",
            column_format="".join("l" if c.decimals is None else "r" for c in table.columns),
            environment="table",
        )
    )
    # A \midrule before each row that starts a block; the body is the lines between the rules.
    lines = latex.splitlines()
    first = lines.index(r"\midrule") + 1
    for offset, new_block in reversed(list(enumerate(group_breaks(table)))):
        if new_block:
            lines.insert(first + offset, r"\midrule")
    provenance = [f"% {line}" for line in table.provenance]
    return "\n".join([f"% Table {table.number}: {table.title}", *lines, *provenance]) + "\n"


def write_table(table: Table, out: Path) -> list[Path]:
    """Writes `<name>.md`, `<name>.csv` and `<name>.tex` under `out`; returns the paths."""
    paths = [out / f"{table.name}.{ext}" for ext in ("md", "csv", "tex")]
    paths[0].write_text(to_markdown(table))
    table.data.to_csv(paths[1], index=False)
    paths[2].write_text(to_latex(table))
    return paths
