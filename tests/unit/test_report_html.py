"""The HTML report's text, without a browser: self-contained (nothing loaded from
anywhere: no `src`, no stylesheet link), every value from the run escaped (in the tables,
and in the JSON the scripts draw from), every table given shown in order (so the
change-impact table is one more item), the vendored libraries as pinned; and the report
path checked before a comparison runs, written whole or not at all.

The page rendered by a real browser: tests/integration/test_report_html.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cli.compare import sections
from cli.main import run
from experiments.report import ReportPathError, check_writable, report_of, write_html
from experiments.report.output import write_atomically
from experiments.report.page import UninlinableScript, _script, pinned, render, vendor_scripts
from projections.mermaid import coupling_flowchart
from tests.support import SampleReader, sample_results, sample_timeline

HOSTILE = '</script><img src=x onerror="alert(1)">&amp;'


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append((dict(attrs), ""))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self.tags and self.tags[-1][0] == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parsed(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    elements.close()
    return elements


def hostile_page() -> str:
    """A report whose tables, trace and coupling carry markup from the run."""
    results = sample_results()
    results["choreography"].coupling[HOSTILE] = {HOSTILE}
    reader = SampleReader()
    reader.timelines["choreography-happy"][1]["type"] = HOSTILE
    tables = [*sections(results), ("change impact " + HOSTILE, ["what", HOSTILE],
                                   [[HOSTILE, 1]])]
    return render(report_of(reader, results, tables))


def test_the_page_loads_nothing_from_anywhere() -> None:
    elements = parsed(render(report_of(SampleReader(), sample_results(),
                                       sections(sample_results()))))
    assert not [tag for tag, _ in elements.tags if tag in ("link", "iframe", "img", "object")]
    assert not [(tag, attrs) for tag, attrs in elements.tags if "src" in attrs or "href" in attrs]
    assert [attrs.get("type") for attrs, _ in elements.scripts] == [
        "application/json", None, None, None]  # the data, Mermaid, ECharts, the page's own


def test_every_value_from_the_run_is_escaped_in_tables_and_data() -> None:
    elements = parsed(hostile_page())
    assert not [tag for tag, _ in elements.tags if tag == "img"]
    assert len(elements.scripts) == 4  # no value closed a script element, none opened one
    data = json.loads(elements.scripts[0][1])
    assert HOSTILE in data["diagrams"]["sequence-choreography"]
    assert HOSTILE in "".join(elements.texts)  # shown as text, as the run said it


def test_every_table_given_is_shown_in_order_after_the_comparisons() -> None:
    results = sample_results()
    impact = ("change impact of fraud", ["what", *results], [["subscriptions", "3", "0"]])
    page = render(report_of(SampleReader(), results, [*sections(results), impact]))
    captions = [page.index(f"<caption>{title}</caption>")
                for title, _, _ in [*sections(results), impact] if "<" not in title]
    assert captions == sorted(captions) and len(captions) == len(sections(results)) + 1
    assert '<td class="num">3</td>' in page and '<td class="ok">✓</td>' in page


def test_the_data_block_holds_both_flows_diagrams_and_latencies() -> None:
    results = sample_results()
    page = render(report_of(SampleReader(), results, []))
    data = json.loads(parsed(page).scripts[0][1])
    assert data["flows"] == ["choreography", "orchestration"]
    assert data["latencies"] == {flow: r.latencies_ms for flow, r in results.items()}
    assert data["diagrams"]["sequence-orchestration"].startswith("sequenceDiagram\n")
    assert "orchestrator" in data["diagrams"]["coupling-orchestration"]


def test_the_vendored_libraries_are_the_pinned_ones_and_inline_safely() -> None:
    names = [name for name, _ in pinned()]
    assert names == ["mermaid-12.3.0.min.js", "echarts-6.1.0.common.min.js"]
    for script, (_, digest) in zip(vendor_scripts(), pinned(), strict=True):
        text = script.read_bytes()
        assert hashlib.sha256(text).hexdigest() == digest, script.name
        assert _script(text.decode("utf-8"))


def test_a_script_that_would_end_its_element_is_refused() -> None:
    with pytest.raises(UninlinableScript):
        _script('let s = "</SCRIPT>";')


def test_the_coupling_flowchart_keeps_a_topic_and_a_service_of_one_name_apart() -> None:
    chart = coupling_flowchart({"inventory": {"inventory.commands"},
                                "orchestrator": {"inventory"}})
    assert chart.splitlines() == [
        "flowchart LR", '    t_inventory(["inventory"])',
        '    t_inventory_commands(["inventory.commands"])', '    s_inventory["inventory"]',
        '    s_orchestrator["orchestrator"]', "    t_inventory_commands --> s_inventory",
        "    t_inventory --> s_orchestrator"]
    assert coupling_flowchart({}) == 'flowchart LR\n    nothing["no consumption traced"]'
    assert coupling_flowchart({"s": {'a"b'}}).splitlines()[1] == '    t_a_b(["a#quot;b"])'


def test_a_flow_without_a_happy_path_order_still_gets_its_figure() -> None:
    results = sample_results()
    del results["orchestration"].scenario_orders["happy path"]
    report = report_of(SampleReader(), results, [])
    assert report.sequences[1].caption == "no happy-path order was placed"
    assert report.sequences[0].source.count("->>") == len(sample_timeline("choreography"))


@pytest.mark.parametrize("where", ["missing/report.html", "a-file/report.html", "a-dir"])
def test_an_unwritable_path_is_one_line_and_leaves_nothing(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ReportPathError) as raised:
        check_writable(tmp_path / where)
    assert "\n" not in str(raised.value) and str(tmp_path / where) in str(raised.value)
    assert sorted(tmp_path.rglob("*")) == before


def test_a_writable_path_is_checked_without_a_trace_and_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    check_writable(target)
    assert list(tmp_path.iterdir()) == []
    results = sample_results()
    write_html(target, SampleReader(), results, sections(results))
    write_atomically(target, "second")
    assert target.read_text() == "second" and list(tmp_path.iterdir()) == [target]
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"


def test_compare_refuses_an_unwritable_report_before_it_needs_a_broker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The check comes first: no broker is asked for, so nothing is seeded or placed."""
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing answers there
    for option in ("--html", "--markdown"):
        assert run(["compare", option, str(tmp_path / "missing" / "r")]) == 1
        err = capsys.readouterr().err
        assert err == (f"orderflow: error: cannot write the report to {tmp_path}/missing/r:"
                       f" no such directory {tmp_path}/missing\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
