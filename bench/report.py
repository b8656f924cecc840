"""Medians over the rounds, the table, the JSON record."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from generators import Sample


@dataclass(frozen=True)
class Summary:
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    ratio: float
    """Median over rounds of (this scenario's req/s / the ceiling's req/s in the same round)."""
    server_cpu: float
    client_cpu: float
    http_errors: int
    errors: int


def summarise(samples: dict[str, list[Sample]], ceiling: str) -> list[Summary]:
    """Medians of each figure over the rounds. The ratio is taken round by round, so that
    the drift of a shared machine between rounds cancels out."""
    base = samples[ceiling]
    rows = []
    for name, runs in samples.items():
        ratios = [s.rps / b.rps for s, b in zip(runs, base, strict=True) if b.rps]
        rows.append(
            Summary(
                scenario=name,
                rps=statistics.median(s.rps for s in runs),
                p50_ms=statistics.median(s.p50_ms for s in runs),
                p99_ms=statistics.median(s.p99_ms for s in runs),
                ratio=statistics.median(ratios) if ratios else 0.0,
                server_cpu=statistics.median(s.server_cpu for s in runs),
                client_cpu=statistics.median(s.client_cpu for s in runs),
                http_errors=sum(s.http_errors for s in runs),
                errors=sum(s.errors for s in runs),
            )
        )
    return rows


def table(rows: list[Summary]) -> str:
    header = (
        f"{'scenario':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8}"
        f" {'server CPU':>11} {'client CPU':>11} {'errors':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.scenario:<30} {r.rps:>9,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.ratio:>8.2f}"
            f" {r.server_cpu:>11.0%} {r.client_cpu:>11.0%} {r.http_errors + r.errors:>7}"
        )
    return "\n".join(lines)


def save(path: Path, *, meta: dict[str, Any], rows: list[Summary], samples: dict[str, list[Sample]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **meta,
        "summary": [asdict(r) for r in rows],
        "rounds": {name: [{**asdict(s), "rps": s.rps} for s in runs] for name, runs in samples.items()},
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
