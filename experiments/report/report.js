// Draws the report's figures from its JSON data block, offline, once the page loaded:
// Mermaid renders the sequence diagrams and the coupling graphs, ECharts (SVG renderer)
// the latency CDF. A figure that fails says why in its own box and on the console; the
// body's data-rendered attribute ends as "yes" when every figure rendered, else "error"
// (what the browser test and a reader's eye both check).
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("report-data").textContent);
  const failures = [];

  function fail(element, what, error) {
    const message = `${what}: ${error && error.message ? error.message : error}`;
    failures.push(message);
    console.error(`orderflow report: ${message}`);
    const box = document.createElement("div");
    box.className = "render-error";
    box.textContent = `could not draw ${message}`;
    element.replaceChildren(box);
  }

  async function drawDiagrams() {
    mermaid.initialize({
      startOnLoad: false, securityLevel: "strict", theme: "neutral",
      themeVariables: { fontSize: "14px" },
      sequence: { mirrorActors: false, useMaxWidth: true, messageMargin: 28, actorMargin: 30,
                  width: 120 },
      flowchart: { useMaxWidth: false, curve: "basis", nodeSpacing: 14, rankSpacing: 56 },
    });
    let n = 0;
    for (const element of document.querySelectorAll("[data-mermaid]")) {
      const key = element.dataset.mermaid;
      try {
        const { svg } = await mermaid.render(`diagram-${n++}`, data.diagrams[key]);
        element.innerHTML = svg;  // Mermaid's own output, sanitised under securityLevel strict
      } catch (error) {
        fail(element, `diagram ${key}`, error);
      }
    }
  }

  // A flow's colour is the stylesheet's (--choreography, --orchestration): said once.
  function flowColour(flow) {
    const style = getComputedStyle(document.documentElement);
    return style.getPropertyValue(`--${flow}`).trim() || "#6b7280";
  }

  // The empirical CDF as an explicit staircase: up by 1/n at each measured latency.
  function staircase(sorted) {
    const points = [];
    sorted.forEach((ms, i) => {
      points.push([ms, i / sorted.length], [ms, (i + 1) / sorted.length]);
    });
    return points;
  }

  function drawLatency() {
    const element = document.getElementById("latency-chart");
    try {
      const chart = echarts.init(element, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        color: data.flows.map((flow) => flowColour(flow)),
        legend: { top: 0 },
        tooltip: { trigger: "axis", valueFormatter: (v) => `${Math.round(v * 100)}%` },
        grid: { left: 64, right: 28, top: 36, bottom: 52 },
        xAxis: { type: "value", min: 0, name: "place → final, ms", nameLocation: "middle",
                 nameGap: 30 },
        yAxis: { type: "value", min: 0, max: 1, name: "orders settled",
                 axisLabel: { formatter: (v) => `${Math.round(v * 100)}%` } },
        series: data.flows.map((flow) => ({
          name: flow, type: "line", showSymbol: false, lineStyle: { width: 2.5 },
          data: staircase(data.latencies[flow]),
        })),
      });
      window.addEventListener("resize", () => chart.resize());
    } catch (error) {
      fail(element, "latency chart", error);
    }
  }

  async function draw() {
    await drawDiagrams();
    drawLatency();
    const status = document.getElementById("render-status");
    if (failures.length) {
      status.className = "error";
      status.textContent = `${failures.length} figure(s) could not be drawn: ${failures.join("; ")}`;
    }
    document.body.dataset.rendered = failures.length ? "error" : "yes";
  }

  draw().catch((error) => {
    fail(document.getElementById("render-status"), "report", error);
    document.body.dataset.rendered = "error";
  });
})();
