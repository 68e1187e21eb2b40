"""The results table: printed, and written as JSON and Markdown under bench/results/."""

import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figure:
    """One row. `ratio` says how the value compares with its baseline, as `ratio_means` reads
    ("check ÷ bare" for a latency, "bare ÷ check" for a throughput: above 1 is slower). `passed`
    is None for a figure reported without a goal."""

    number: int
    name: str
    value: float
    unit: str
    baseline: float
    baseline_name: str
    ratio: float
    ratio_means: str
    goal: str
    passed: bool | None
    rounds: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        return "report" if self.passed is None else ("pass" if self.passed else "FAIL")


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def rows(figures: list[Figure]) -> list[list[str]]:
    return [
        [
            f"{figure.number}. {figure.name}",
            f"{_number(figure.value)} {figure.unit}".strip(),
            f"{_number(figure.baseline)} ({figure.baseline_name})",
            f"{_number(figure.ratio)}× ({figure.ratio_means})",
            figure.goal,
            figure.result,
        ]
        for figure in figures
    ]


HEADER = ["figure", "value", "baseline", "ratio", "goal", "pass/fail"]


def table(figures: list[Figure]) -> str:
    body = [HEADER, *rows(figures)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in body]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown(figures: list[Figure], meta: dict) -> str:
    out = [f"# PIM benchmark ({meta['mode']})", ""]
    out += [f"- {key}: {value}" for key, value in meta.items() if not isinstance(value, dict | list)]
    for key in ("data_set", "seed_seconds"):
        if key in meta:
            out.append(f"- {key.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in meta[key].items()))
    out += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(figures)]
    notes = [(figure, note) for figure in figures for note in figure.notes]
    if notes:
        out += ["", "## Notes", ""]
        out += [f"- **{figure.number}. {figure.name}**: {note}" for figure, note in notes]
    for note in meta.get("notes", []):
        out.append(f"- {note}")
    return "\n".join(out) + "\n"


def write(figures: list[Figure], meta: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    mode = meta["mode"]
    data = {
        **meta,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "figures": [asdict(figure) | {"result": figure.result} for figure in figures],
    }
    json_path, md_path = directory / f"{mode}.json", directory / f"{mode}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown(figures, meta))
    return json_path, md_path
