"""Medians over the rounds, the table, the JSON record."""

from __future__ import annotations

import json
import statistics
from collections.abc import Collection
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
    vs_off: float | None = None
    """For the limiter rows: median over rounds of (req/s / the limiter-off server's req/s
    in the same round); None on the other rows."""


def _median_ratio(runs: list[Sample], base: list[Sample]) -> float:
    ratios = [s.rps / b.rps for s, b in zip(runs, base, strict=True) if b.rps]
    return statistics.median(ratios) if ratios else 0.0


def summarise(
    samples: dict[str, list[Sample]],
    ceiling: str,
    *,
    limiter_off: str | None = None,
    limiter_rows: Collection[str] = (),
) -> list[Summary]:
    """Medians of each figure over the rounds. Ratios are taken round by round (against
    the ceiling; for ``limiter_rows`` also against ``limiter_off``), so that the drift of
    a shared machine between rounds cancels out."""
    rows = []
    for name, runs in samples.items():
        off = samples.get(limiter_off) if limiter_off is not None and name in limiter_rows else None
        rows.append(
            Summary(
                scenario=name,
                rps=statistics.median(s.rps for s in runs),
                p50_ms=statistics.median(s.p50_ms for s in runs),
                p99_ms=statistics.median(s.p99_ms for s in runs),
                ratio=_median_ratio(runs, samples[ceiling]),
                server_cpu=statistics.median(s.server_cpu for s in runs),
                client_cpu=statistics.median(s.client_cpu for s in runs),
                http_errors=sum(s.http_errors for s in runs),
                errors=sum(s.errors for s in runs),
                vs_off=_median_ratio(runs, off) if off is not None else None,
            )
        )
    return rows


def table(rows: list[Summary]) -> str:
    width = max(30, *(len(r.scenario) for r in rows))
    limiter = any(r.vs_off is not None for r in rows)
    header = (
        f"{'scenario':<{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8}"
        + (f" {'vs limiter off':>15}" if limiter else "")
        + f" {'server CPU':>11} {'client CPU':>11} {'errors':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        vs_off = f"{r.vs_off:.2f}" if r.vs_off is not None else ""
        lines.append(
            f"{r.scenario:<{width}} {r.rps:>9,.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.ratio:>8.2f}"
            + (f" {vs_off:>15}" if limiter else "")
            + f" {r.server_cpu:>11.0%} {r.client_cpu:>11.0%} {r.http_errors + r.errors:>7}"
        )
    return "\n".join(lines)


def save(path: Path, *, meta: dict[str, Any], rows: list[Summary], samples: dict[str, list[Sample]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        **meta,
        "summary": [asdict(r) for r in rows],
        "samples": {name: [{**asdict(s), "rps": s.rps} for s in runs] for name, runs in samples.items()},
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
