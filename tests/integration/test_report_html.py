"""The HTML report in a real browser: Debian's chromium, driven by Playwright, opens the
file from disk with every network request refused, runs its scripts, and shows both
sequence diagrams, the latency chart and both coupling graphs as SVG, with no error on
the console. A screenshot of the whole page is kept as a test artifact:
tests/artifacts/compare-report.png (git-ignored; the test prints the path).

Without chromium the test skips and says so, except under CI (`CI` set, as .ci/run
runs), where a missing browser is a failure: `make browser` (which `make pytest` and
.ci/run call) installs it from Debian's packages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route, sync_playwright

from adapters.settings import PROJECT_ROOT
from cli.compare import sections
from experiments.report import write_html
from tests.support import SAMPLE_TRACES, SampleReader, sample_results

pytestmark = [pytest.mark.browser, pytest.mark.store_independent]
ARTIFACT = PROJECT_ROOT / "tests" / "artifacts" / "compare-report.png"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None and os.environ.get("CI"):
        pytest.fail("CI must provide Debian's chromium (`make browser` installs it)")
    if found is None:
        pytest.skip("no chromium: `make browser` installs Debian's (as root, with apt-get)")
    return found


@pytest.fixture
def page(chromium: str) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A page, the console errors and page errors it logs, and the requests it made
    that were not for a file (all refused)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        opened = browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        fetched: list[str] = []
        opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        opened.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        opened.route("**/*", lambda route, request: _file_only(route, request, fetched))
        yield opened, errors, fetched
        browser.close()


def _file_only(route: Route, request: Request, fetched: list[str]) -> None:
    if request.url.startswith("file://"):
        route.continue_()
    else:
        fetched.append(request.url)
        route.abort()


def test_a_browser_draws_every_diagram_and_the_chart_offline_with_no_error(
        tmp_path: Path, page: tuple[Page, list[str], list[str]]) -> None:
    opened, errors, fetched = page
    report = tmp_path / "compare-report.html"
    results = sample_results()
    write_html(report, SampleReader(), results, sections(results))
    opened.goto(report.as_uri())
    opened.wait_for_function("document.body.dataset.rendered !== 'no'", timeout=60_000)
    _keep_screenshot(opened, tmp_path)
    assert opened.evaluate("document.body.dataset.rendered") == "yes", errors
    assert errors == [] and fetched == []
    for flow, trace in SAMPLE_TRACES.items():
        messages = opened.locator(f'[data-mermaid="sequence-{flow}"] svg .messageText')
        assert sorted(messages.all_text_contents()) == sorted(t[1] for t in trace), flow
        nodes = opened.locator(f'[data-mermaid="coupling-{flow}"] svg .node')
        consumed = results[flow].coupling
        assert nodes.count() == len(set().union(*consumed.values())) + len(consumed), flow
    lines = opened.locator("#latency-chart svg path[fill='none']")
    assert lines.count() >= 2  # one CDF per flow, beside the axes
    assert opened.locator("table").count() == len(sections(results))


def _keep_screenshot(opened: Page, tmp_path: Path) -> None:
    shot = tmp_path / ARTIFACT.name
    opened.screenshot(path=str(shot), full_page=True)
    ARTIFACT.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACT)
    print(f"screenshot of the report: {ARTIFACT}")
