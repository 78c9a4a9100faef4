"""The comparison as one HTML page that a browser renders offline, from a file:// URL.

What it guarantees, and why:

- **Self-contained.** The libraries and the page's own script are inlined from files
  shipped in this package (`vendor/`, listed and pinned by `vendor/SHA256SUMS`); no
  element loads anything (no `<script src>`, no stylesheet link, no web font, no CDN),
  so the report opens on a laptop with no network, years later, exactly as written.
- **Escaped.** Every value from the run (table cells, titles, order ids) goes through
  `html.escape`. The figures' data is one `<script type="application/json">` block with
  `<`, `>` and `&` written as JSON `\\u` escapes, so no value can end its element; a
  library text holding `<script` or `</script` is refused rather than cutting the page.
- **Open to more tables.** The page shows every table it is given, in order: the
  comparison's sections today, the change-impact table of `--with-step` once it exists,
  with no change here.

Why these libraries: **Mermaid** is what `trace --format mermaid` and the Markdown
report already emit (`projections.mermaid`), so the page draws the very same source; its
single-file browser build (`dist/mermaid.min.js`, an IIFE defining `mermaid`) works from
a file:// page. **Apache ECharts** draws the latency CDF: one file, an SVG renderer (the
test can see the chart in the DOM, and it prints sharp), axes, legend and tooltips from
one option object; kept by the Apache Software Foundation under Apache-2.0, released
often. Its "common" build (line, bar, scatter, pie; SVG and canvas) is a sixth of the full
one. Vega-Lite would need three files (vega, vega-lite, vega-embed) for the same chart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from importlib.resources.abc import Traversable
from string import Template
from typing import Any

from domain.errors import OrderflowError

Table = tuple[str, Sequence[str], Sequence[Sequence[Any]]]  # title, columns, rows
_NUMBER = re.compile(r"-|-?\d+(\.\d+)?")  # "-": no value, in a column of numbers
_UNSAFE_IN_SCRIPT = re.compile(r"</?script", re.IGNORECASE)
_LIBRARY = re.compile(r"^(?P<name>[a-z]+)-(?P<version>\d+(\.\d+)*)\.")
LIBRARY_NAMES = {"mermaid": "Mermaid", "echarts": "Apache ECharts"}


@dataclass(frozen=True)
class Figure:
    """One flow's Mermaid diagram and what it shows."""

    flow: str
    caption: str
    source: str


@dataclass(frozen=True)
class Report:
    title: str
    meta: str  # one line under the title: what was run, when
    sequences: Sequence[Figure]
    coupling: Sequence[Figure]
    latencies: Mapping[str, Sequence[float]]  # flow → sorted latencies, ms
    tables: Sequence[Table]


class UninlinableScript(OrderflowError):
    """A script text that would end its own <script> element if inlined."""


def render(report: Report) -> str:
    """The whole page, scripts and data inlined."""
    scripts = [*vendor_scripts(), _package_file("report.js")]
    return Template(_package_file("template.html").read_text("utf-8")).substitute(
        title=escape(report.title), meta=escape(report.meta),
        sequences="\n".join(_figure("sequence", f) for f in report.sequences),
        coupling="\n".join(_figure("coupling", f) for f in report.coupling),
        tables="\n".join(_table(t) for t in report.tables),
        footer=escape(_footer()), licenses=_licenses(), data=_data(report),
        scripts="\n".join(_script(s.read_text("utf-8")) for s in scripts))


def vendor_scripts() -> list[Traversable]:
    """The pinned libraries, in the order SHA256SUMS lists them (the order they load)."""
    return [_vendor() / name for name, _ in pinned()]


def pinned() -> list[tuple[str, str]]:
    """(file name, sha256) of each vendored script, from vendor/SHA256SUMS."""
    lines = (_vendor() / "SHA256SUMS").read_text("utf-8").splitlines()
    return [(name.lstrip("*"), digest) for digest, name in (line.split() for line in lines
                                                              if line.strip())]


def _figure(kind: str, figure: Figure) -> str:
    flow = escape(figure.flow, quote=True)
    return (f'<div class="card flow-border-{flow}"><h3><span class="flow flow-{flow}">{flow}'
            f'</span> <span class="what">{escape(figure.caption)}</span></h3>'
            f'<div class="figure {kind}" data-mermaid="{kind}-{flow}"></div></div>')


def _table(table: Table) -> str:
    title, columns, rows = table
    head = "".join(f'<th class="flow-{escape(str(c), quote=True)}">{escape(str(c))}</th>'
                   for c in columns)
    body = "".join("<tr>" + "".join(_cell(cell) for cell in row) + "</tr>\n" for row in rows)
    return (f'<div class="card"><table><caption>{escape(title)}</caption>'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table></div>")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    kind = _kind(text)
    return f'<td class="{kind}">{escape(text)}</td>' if kind else f"<td>{escape(text)}</td>"


def _kind(text: str) -> str | None:
    """How a cell reads at a glance: as expected, not, skipped, or a number."""
    if text == "✓":
        return "ok"
    if text.startswith("✗"):
        return "bad"
    if text.startswith("skipped"):
        return "skip"
    return "num" if _NUMBER.fullmatch(text) else None


def _data(report: Report) -> str:
    """The figures' inputs as JSON that cannot end the <script> element holding it."""
    figures = [("sequence", f) for f in report.sequences] + [("coupling", f)
                                                             for f in report.coupling]
    data = {"flows": list(report.latencies),
            "diagrams": {f"{kind}-{f.flow}": f.source for kind, f in figures},
            "latencies": {flow: list(ms) for flow, ms in report.latencies.items()}}
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _script(text: str) -> str:
    if _UNSAFE_IN_SCRIPT.search(text):
        raise UninlinableScript("a report script holds <script or </script: not inlined")
    return f"<script>\n{text}\n</script>"


def _footer() -> str:
    names = [_LIBRARY.match(name) for name, _ in pinned()]
    libraries = ", ".join(f"{LIBRARY_NAMES.get(m['name'], m['name'])} {m['version']}"
                          for m in names if m)
    return (f"Written by orderflow compare. Self-contained: {libraries} and the page's "
            "own script are inlined; nothing is fetched.")


def _licenses() -> str:
    texts = sorted((f for f in _vendor().iterdir()
                    if f.name.startswith(("LICENSE", "NOTICE"))), key=lambda f: f.name)
    return "\n".join(f"<h4>{escape(f.name)}</h4><pre>{escape(f.read_text('utf-8'))}</pre>"
                     for f in texts)


def _package_file(name: str) -> Traversable:
    return resources.files("experiments.report") / name


def _vendor() -> Traversable:
    return _package_file("vendor")
