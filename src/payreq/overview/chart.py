"""The overview's chart, drawn by the server as SVG: paid volume per day of one
currency, with axes, labels, a title and a text alternative (``<title>``, ``<desc>``
and the table beside it). No script, no external asset."""

from __future__ import annotations

from decimal import Decimal
from xml.sax.saxutils import escape

from payreq.kit import money
from payreq.overview.service import Series

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 36, 40


def _nice_ceiling(value: Decimal) -> Decimal:
    """The next 1, 2 or 5 times a power of ten, for the y axis's top."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (1, 2, 5, 10):
        top = Decimal(step).scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent)  # pragma: no cover


def _label(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def paid_chart(series: Series, *, chart_id: str) -> str:
    digits = money.minor_unit_digits(series.currency)
    volumes = [Decimal(d.volume).scaleb(-digits) for d in series.days]
    top = _nice_ceiling(max(volumes, default=Decimal(0)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(series.days)
    total = money.major_units(series.total_volume, series.currency)
    first, last = series.days[0].day, series.days[-1].day
    title = f"Paid volume per day in {series.currency}, {first:%d %b} to {last:%d %b %Y}"
    best = max(series.days, key=lambda d: d.volume)
    desc = (
        f"{series.total_count} payments paid, {total} {series.currency} in all over {len(series.days)} days; "
        f"the highest day was {best.day:%d %b} with {money.major_units(best.volume, series.currency)} "
        f"{series.currency} from {best.count} payments."
    )
    parts = [
        f'<svg class="chart" id="{chart_id}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'data-currency="{escape(series.currency)}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
        f'<text class="title" x="{LEFT}" y="20">{escape(title)}</text>',
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(value)}</text>')
    for n, (day, volume) in enumerate(zip(series.days, volumes, strict=True)):
        height = float(volume / top) * plot_h if top else 0.0
        x = LEFT + n * slot + slot * 0.15
        y = TOP + plot_h - height
        label = f"{day.day:%d %b}: {money.major_units(day.volume, series.currency)} {series.currency}, {day.count} paid"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
            f'data-day="{day.day.isoformat()}" data-volume="{day.volume}" data-count="{day.count}">'
            f"<title>{escape(label)}</title></rect>"
        )
        if n % 5 == 0 or n == len(series.days) - 1:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{day.day:%d %b}</text>'
            )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    parts.append(
        f'<text x="14" y="{TOP + plot_h / 2:.0f}" transform="rotate(-90 14 {TOP + plot_h / 2:.0f})" text-anchor="middle">{escape(series.currency)}</text>'
    )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle">Day paid (UTC)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
