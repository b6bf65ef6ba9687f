"""Plain-text tables for terminal output.

>>> print(render_table([("gpu01", "V100")], ("host", "gpu")))
host   gpu
-----  ----
gpu01  V100
"""

from __future__ import annotations

from collections.abc import Sequence


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Left-aligned columns; a short row's last cell runs on past the remaining columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) == len(headers):
            widths = [max(w, len(str(cell))) for w, cell in zip(widths, row, strict=True)]
    lines = [_line(headers, widths), _line(["-" * w for w in widths], widths)]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [str(c).ljust(w) for c, w in zip(cells, widths, strict=False)]
    return "  ".join(padded).rstrip()
