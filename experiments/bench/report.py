"""The bench's result document as tables for people: (title, columns, rows) each."""

from __future__ import annotations

from typing import Any

from experiments.bench.config import FLOWS
from experiments.bench.results import Document

Section = tuple[str, list[str], list[list[Any]]]


def sections(result: Document) -> list[Section]:
    return [_run(result), _baselines(result), _pipeline(result), _latency(result),
            _inside(result), _ratios(result), _cpu(result), _memory(result), _targets(result)]


def startup_sections(result: Document) -> list[Section]:
    """`bench --cli`: the start-up figures, then the targets."""
    return [_startup(result), _targets(result, "targets (issue 14)")]


def _startup(result: Document) -> Section:
    run, figures = result["run"], result["startup"]
    rows = [[label, *(f"{f[k]:.0f}" for k in ("best_ms", "median_ms", "max_ms")),
             "-" if label.startswith("python") else f"{f['over_python_ms']:+.0f}"]
            for label, f in figures.items()]
    title = (f"CLI start-up, wall-clock ms over {run['runs']} runs (1-min load "
             f"{run['load_before']:.1f} → {run['load_after']:.1f})")
    return title, ["command", "best", "median", "max", "vs python"], rows


def _run(result: Document) -> Section:
    run, machine, config = result["run"], result["run"]["machine"], result["run"]["config"]
    sizes = (f"warm-up {config['warmup']:,}/flow, burst {config['orders']:,}/flow, light load "
             f"{config['rate']:g}/s × {config['duration']:g} s, raw Kafka "
             f"{config['raw_records']:,} records, raw store {config['store_events']:,} events")
    rows = [["machine", f"{machine['cpus']} CPUs, {machine['cpu']}, {machine['platform']}"],
            ["python", machine["python"]], ["store", run["store"]],
            ["broker", run["broker"]], ["topic prefix", run["topic_prefix"]], ["sizes", sizes],
            ["saga timeouts", f"order {run['order_timeout_s']:g} s, step "
                              f"{run['step_timeout_s']:g} s (generous: capacity, not expiry)"],
            ["load average (1 min)", f"{run['load_before']:.1f} before, "
                                     f"{run['load_after']:.1f} after (other work skews figures)"],
            ["took", f"{run['seconds']:.0f} s"]]
    return "bench run", ["", ""], rows


def _baselines(result: Document) -> Section:
    kafka = result["baselines"]["kafka"]
    rows = [[f"Kafka produce → consume ({kafka['records']:,} × {kafka['record_bytes']} B)",
             f"{kafka['end_to_end_per_s']:,.0f} records/s",
             f"produce alone {kafka['produce_per_s']:,.0f}/s (consumer fetching alongside)"]]
    for kind, store in result["baselines"]["store"].items():
        rows.append([f"{kind} append_many ({store['events']:,} events, {store['batch']} per tx)",
                     f"{store['rows_per_s']:,.0f} rows/s",
                     f"{store['events_per_s']:,.0f} events (event + outbox row)/s"])
    return "raw baselines (same run, services not yet started)", ["", "rate", "detail"], rows


def _pipeline(result: Document) -> Section:
    flows = result["pipeline"]
    some = next(iter(flows.values()))

    def row(label: str, key: str, fmt: str = "{:,.0f}") -> list[Any]:
        return [label, *(fmt.format(flows[f][key]) for f in FLOWS if f in flows)]

    outcomes = ["outcomes", *(", ".join(f"{k} {v}" for k, v in flows[f]["outcomes"].items())
                              for f in FLOWS if f in flows)]
    rows = [row("orders/s to a final status", "orders_per_s"),
            row("seconds, first place → last final", "seconds", "{:.1f}"),
            row("seconds until all final in order_view", "visible_seconds", "{:.1f}"),
            row("placing rate (all placers), orders/s", "place_per_s"),
            row("placer processes", "placers"),
            row("Kafka messages", "messages"), row("messages per order", "messages_per_order",
                                                   "{:.1f}"),
            row("messages/s", "messages_per_s"), outcomes,
            row("CPU s per order (services)", "cpu_per_order", "{:.4f}"),
            row("CPU s per order (+ placer, broker)", "cpu_per_order_all", "{:.4f}")]
    title = f"pipeline: a burst of {some['orders']:,} orders per flow ({result['run']['store']})"
    return title, ["", *flows], rows


def _latency(result: Document) -> Section:
    flows = result["latency"]
    some = next(iter(flows.values()))
    rows = [[label, *(f"{flows[f][key]:.0f}" for f in flows)]
            for label, key in (("p50 ms", "p50_ms"), ("p95 ms", "p95_ms"), ("p99 ms", "p99_ms"),
                               ("max ms", "max_ms"))]
    rows += [["orders", *(flows[f]["orders"] for f in flows)],
             ["achieved orders/s", *(f"{flows[f]['achieved_rate']:.1f}" for f in flows)]]
    rows += [[label, *(f"{flows[f]['hops'][f'{key}_p50_ms']:.0f} / "
                       f"{flows[f]['hops'][f'{key}_p99_ms']:.0f}" for f in flows)]
             for label, key in (("hop: decide → produce, p50 / p99 ms", "decide_to_produce"),
                                ("hop: produce → apply, p50 / p99 ms", "produce_to_apply"))]
    services = sorted({s for f in flows for s in flows[f]["hops"]["by_service"]})
    rows += [[f"  {service}: p50 ms each hop", *(_hop(flows[f]["hops"], service) for f in flows)]
             for service in services]
    rows += [["messages per order: coordination + feed", *(
        f"{flows[f]['hops']['coordination'] / max(1, flows[f]['orders']):.1f} + "
        f"{flows[f]['hops']['feed'] / max(1, flows[f]['orders']):.1f}" for f in flows)]]
    title = (f"latency: place → final at {some['rate']:g} orders/s for {some['duration']:g} s"
             " (event times)")
    return title, ["", *flows], rows


def _hop(hops: dict[str, Any], service: str) -> str:
    figures = hops["by_service"].get(service)
    if figures is None:
        return "-"
    return (f"{figures['decide_to_produce_p50_ms']:.0f} / "
            f"{figures['produce_to_apply_p50_ms']:.0f}")


# The hops of adapters.metrics.HOPS as the table names them, in the order a message meets them.
INSIDE = (("relay_pickup", "pick-up: written → read"),
          ("relay_publish", "publish: produce → ack"),
          ("consumer_fetch", "fetch: produce → poll"),
          ("batch_apply", "apply: poll → commit"))


def _inside(result: Document) -> Section:
    """The services' histograms at light load: p50 / p99 ms per hop, then p50 per service
    ("–": the hop had no samples)."""
    flows = {f: figures["service_hops"] for f, figures in result["latency"].items()}
    rows: list[list[Any]] = [
        [label, *(f"{_ms(h['hops'][hop]['p50_ms'])} / {_ms(h['hops'][hop]['p99_ms'])}"
                  for h in flows.values())]
        for hop, label in INSIDE]
    rows += [["samples per hop", *(" / ".join(_count(h["hops"][hop]["samples"])
                                                  for hop, _ in INSIDE) for h in flows.values())]]
    services = sorted({s for h in flows.values() for s in h["by_service"]})
    rows += [[f"  {service}, p50s",
              *(" / ".join(_ms(h["by_service"].get(service, {}).get(hop)) for hop, _ in INSIDE)
                for h in flows.values())] for service in services]
    if any(h["unscraped"] for h in flows.values()):
        rows.append(["not scraped", *(", ".join(h["unscraped"]) for h in flows.values())])
    title = "latency inside the services, same phase: p50 / p99 ms (their /metrics)"
    return title, ["", *flows], rows


def _count(value: float) -> str:
    """A count in at most four characters (12, 1.3k, 63k, 1.2M)."""
    for limit, unit in ((1e6, "M"), (1e3, "k")):
        if value >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{unit}" if scaled < 9.95 else f"{scaled:.0f}{unit}"
    return f"{value:.0f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _ratios(result: Document) -> Section:
    ratios = result["ratios"]
    rows = [["orders/s ÷ raw Kafka records/s",
             *(f"{ratios[f]['orders_vs_kafka']:.2f}%" for f in ratios)],
            ["pipeline msgs/s ÷ raw Kafka records/s",
             *(f"{ratios[f]['kafka']:.1%}" for f in ratios)],
            [f"pipeline msgs/s ÷ raw {result['run']['store']} events/s",
             *(f"{ratios[f]['store']:.1%}" for f in ratios)]]
    return "ratios", ["", *ratios], rows


def _cpu(result: Document) -> Section:
    flows = result["pipeline"]
    names = sorted({n for f in flows.values() for n in f["cpu_seconds"]})
    rows = [[name, *(f"{flows[f]['cpu_seconds'].get(name, 0) / flows[f]['orders'] * 1000:.2f}"
                     for f in flows)] for name in names]
    return "CPU milliseconds per order during the burst, by process", ["process", *flows], rows


def _memory(result: Document) -> Section:
    rows = [[name, f"{mib:.0f}"] for name, mib in result["memory_mib"].items()]
    return "peak memory per process (VmHWM)", ["process", "MiB"], rows


def _targets(result: Document, title: str = "targets (issue 13)") -> Section:
    rows = [[t["name"], t["target"], _figure(t), "met" if t["met"] else "NOT met"]
            for t in result["targets"]]
    return title, ["target", "wanted", "measured", "verdict"], rows


def _figure(target: dict[str, Any]) -> str:
    value = target["measured"]
    if target["unit"] == "×":
        return f"{value:.1%}"
    if target["unit"] == "%":
        return f"{value:.2f} %"
    return f"{value:,.1f} {target['unit']}" if value < 10 else f"{value:,.0f} {target['unit']}"
