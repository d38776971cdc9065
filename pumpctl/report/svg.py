"""A small SVG writer for the report's figures: shapes, text, axes and legends, no dependencies.

Coordinates are in user units of a fixed-width ``viewBox`` (:data:`WIDTH` = the A4 text width at
96 units per inch), so a figure prints at the same size on every page and scales on screen.
Text is real text (selectable, searchable), escaped, in the page's font.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH = 680.0  # 180 mm at 96 units per inch: A4 less 15 mm margins
FONT = 10.0
SMALL = 9.0
AXIS = "#444444"
GRID = "#dddddd"


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass
class Canvas:
    """One figure; elements are drawn in the order they are added (later ones on top)."""

    height: float
    label: str
    width: float = WIDTH
    parts: list[str] = field(default_factory=list)

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: str,
        *,
        stroke: str | None = None,
        title: str | None = None,
        opacity: float | None = None,
    ) -> None:
        attrs = f'x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0.0))}" height="{_n(max(h, 0.0))}"'
        attrs += f' fill="{fill}"'
        if stroke:
            attrs += f' stroke="{stroke}" stroke-width="0.8"'
        if opacity is not None:
            attrs += f' fill-opacity="{opacity:g}"'
        if title:
            self.parts.append(f"<rect {attrs}><title>{escape(title)}</title></rect>")
        else:
            self.parts.append(f"<rect {attrs}/>")

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        stroke: str = AXIS,
        *,
        width: float = 1.0,
        dash: str | None = None,
    ) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
            f'stroke-width="{width:g}"{extra}/>'
        )

    def path(
        self,
        points: Sequence[tuple[float, float]],
        stroke: str,
        *,
        width: float = 1.0,
        fill: str = "none",
        dash: str | None = None,
    ) -> None:
        if not points:
            return
        d = "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in points)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="{width:g}" '
            f'stroke-linejoin="round"{extra}/>'
        )

    def polygon(self, points: Sequence[tuple[float, float]], fill: str) -> None:
        pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        self.parts.append(f'<polygon points="{pts}" fill="{fill}"/>')

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = SMALL,
        anchor: str = "start",
        fill: str = "#111111",
        bold: bool = False,
    ) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size:g}" text-anchor="{anchor}" '
            f'fill="{fill}"{weight}>{escape(text)}</text>'
        )

    def legend(self, x: float, y: float, items: Sequence[tuple[str, str, str]]) -> None:
        """Items (kind, colour, label) in one row from (x, y); kind: box, line, dash, mark."""
        for kind, colour, label in items:
            if kind == "box":
                self.rect(x, y - 8, 10, 9, colour)
            elif kind == "mark":
                self.polygon([(x + 1, y - 8), (x + 9, y - 8), (x + 5, y)], colour)
            else:
                self.line(
                    x, y - 4, x + 12, y - 4, colour, width=2, dash="5 3" if kind == "dash" else None
                )
            self.text(x + 15, y, label)
            x += 15 + text_width(label) + 14

    def render(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(self.width)} '
            f'{_n(self.height)}" role="img" aria-label="{escape(self.label)}">'
            + "".join(self.parts)
            + "</svg>"
        )


def text_width(text: str, size: float = SMALL) -> float:
    """An estimate of a label's width (sans-serif averages about 0.55 em per character)."""
    return len(text) * size * 0.55


def nice_ticks(low: float, high: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten);
    ``whole``: never a step below 1 (axes that count things)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if whole:
        step = max(step, 1.0)
    first = math.floor(low / step) * step
    last = math.ceil(high / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(round((last - first) / step) + 1)]


@dataclass(frozen=True)
class Box:
    """A plotting area in canvas units and the data range it shows."""

    left: float
    top: float
    width: float
    height: float
    x_min: float
    x_max: float
    y_min: float
    y_max: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, value: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return self.left + (value - self.x_min) / span * self.width

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return self.bottom - (value - self.y_min) / span * self.height


def y_axis(canvas: Canvas, box: Box, ticks: Sequence[float], label: str, fmt: str = "g") -> None:
    """Grid lines and labels for ``ticks``, and the axis title above the axis."""
    for tick in ticks:
        y = box.y(tick)
        canvas.line(box.left, y, box.right, y, GRID, width=0.6)
        canvas.text(box.left - 4, y + 3, format(tick, fmt), anchor="end")
    canvas.line(box.left, box.top, box.left, box.bottom, AXIS)
    canvas.line(box.left, box.bottom, box.right, box.bottom, AXIS)
    canvas.text(2, box.top - 7, label)


def x_labels(canvas: Canvas, box: Box, labels: Sequence[tuple[float, str]], *, grid: bool) -> None:
    """Labels under the axis at data positions; optional vertical grid lines."""
    for value, text in labels:
        x = box.x(value)
        if grid:
            canvas.line(x, box.top, x, box.bottom, GRID, width=0.6)
        canvas.line(x, box.bottom, x, box.bottom + 3, AXIS)
        canvas.text(x, box.bottom + 13, text, anchor="middle")
