"""The services' Prometheus metrics: names, ports, the server's one-line failure, and the
arithmetic readers do on scrapes (subtract, quantile as PromQL's histogram_quantile)."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest

from adapters import metrics
from adapters.metrics import (
    BATCH_APPLY_SECONDS,
    CONSUMER_FETCH_SECONDS,
    HOPS,
    RELAY_PICKUP_SECONDS,
    RELAY_PUBLISH_SECONDS,
    SERVICE_PORT_OFFSETS,
    MetricsPortTaken,
    histograms,
    metrics_port,
    quantile,
    subtract,
)
from adapters.settings import METRICS_PORT_MAX, Settings, SettingsError
from services.bootstrap import KNOWN_SERVICES
from tests.support import free_port_pair, run_cli

INF = math.inf
# 10 samples up to 0.1 s, 20 more up to 0.2 s, 10 more up to 0.5 s, none above
KNOWN = {0.1: 10.0, 0.2: 30.0, 0.5: 40.0, INF: 40.0}


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.15),    # rank 20: halfway through the (0.1, 0.2] bucket's 20 samples
    (0.99, 0.488),  # rank 39.6: 9.6 of the (0.2, 0.5] bucket's 10 samples
    (0.1, 0.04),    # rank 4 in the first bucket, which starts at 0
    (1.0, 0.5),
])
def test_quantile_interpolates_inside_its_bucket(q: float, expected: float) -> None:
    assert quantile(q, KNOWN) == pytest.approx(expected)


def test_a_rank_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(0.9, {0.1: 5.0, 0.2: 5.0, INF: 10.0}) == 0.2


def test_no_samples_no_quantile() -> None:
    assert quantile(0.5, {0.1: 0.0, INF: 0.0}) is None
    assert quantile(0.0, {0.1: 0.0, 0.2: 5.0, INF: 5.0}) == pytest.approx(0.1)


def test_a_quantile_outside_0_1_or_buckets_without_inf_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile(1.5, KNOWN)
    with pytest.raises(ValueError, match=r"\+Inf"):
        quantile(0.5, {0.1: 1.0})


def test_subtracting_two_scrapes_leaves_what_happened_between() -> None:
    before = {"a_seconds": {0.1: 4.0, 0.2: 6.0, INF: 6.0}}
    after = {"a_seconds": {0.1: 5.0, 0.2: 9.0, INF: 10.0}, "b_seconds": {1.0: 1.0, INF: 2.0}}
    assert subtract(after, before) == {"a_seconds": {0.1: 1.0, 0.2: 3.0, INF: 4.0},
                                       "b_seconds": {1.0: 1.0, INF: 2.0}}


def test_a_histogram_that_went_down_was_reset_and_counts_whole() -> None:
    before = {"a_seconds": {0.1: 40.0, INF: 50.0}}
    after = {"a_seconds": {0.1: 2.0, INF: 3.0}}  # the process restarted between the scrapes
    assert subtract(after, before) == after


def test_histograms_are_read_back_from_the_exposition_text() -> None:
    before = histograms(generate_latest().decode())
    RELAY_PUBLISH_SECONDS.observe(0.004)
    RELAY_PUBLISH_SECONDS.observe(0.25)
    delta = subtract(histograms(generate_latest().decode()), before)
    publish = delta["orderflow_relay_publish_seconds"]
    assert publish[0.003] == 0 and publish[0.005] == 1 and publish[0.3] == 2
    assert publish[INF] == 2 and metrics.samples(publish) == 2
    assert delta["orderflow_relay_pickup_seconds"][INF] == 0


def test_the_four_hops_appear_on_the_default_registry_once_observed() -> None:
    for histogram in (RELAY_PICKUP_SECONDS, RELAY_PUBLISH_SECONDS, CONSUMER_FETCH_SECONDS,
                      BATCH_APPLY_SECONDS):
        histogram.observe(0.001)
    text = generate_latest().decode()
    for name in HOPS.values():
        assert f'{name}_bucket{{le="0.001"}}' in text and f"{name}_count" in text
    assert set(histograms(text)) >= {*HOPS.values(), "orderflow_batch_records"}


def test_each_service_has_its_own_port_and_base_0_is_off() -> None:
    assert set(SERVICE_PORT_OFFSETS) == set(KNOWN_SERVICES)
    ports = {metrics_port(9100, s) for s in KNOWN_SERVICES}
    assert ports == set(range(9100, 9100 + len(KNOWN_SERVICES)))
    assert metrics_port(9100, "order") == 9100 and metrics_port(9100, "projector") == 9105
    assert all(metrics_port(0, s) is None for s in KNOWN_SERVICES)
    assert METRICS_PORT_MAX + max(SERVICE_PORT_OFFSETS.values()) == 65535


def test_the_base_port_comes_from_the_environment() -> None:
    assert Settings.from_env({}).metrics_port == 0
    assert Settings.from_env({"ORDERFLOW_METRICS_PORT": "9100"}).metrics_port == 9100
    for bad in ("abc", "-1", "65531", "9100.5"):
        with pytest.raises(SettingsError, match="ORDERFLOW_METRICS_PORT") as raised:
            Settings.from_env({"ORDERFLOW_METRICS_PORT": bad})
        assert "\n" not in str(raised.value)


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as other:
        other.bind((metrics.HOST, 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_taken_port_is_one_clear_error(taken: int) -> None:
    with pytest.raises(MetricsPortTaken, match=f"metrics port {taken} is already in use"):
        metrics.serve(taken)


def test_the_server_serves_the_histograms() -> None:
    port = free_port_pair()
    metrics.serve(port)  # a daemon thread, for the rest of this test process
    assert "orderflow_relay_pickup_seconds" in histograms(metrics.fetch(port))


def test_orderflow_run_on_a_taken_port_says_one_line_and_exits_1(taken: int,
                                                                 tmp_path: Path) -> None:
    done = run_cli(["run", "order"], {"ORDERFLOW_METRICS_PORT": str(taken),
                                      "ORDERFLOW_DATA_DIR": str(tmp_path),
                                      "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, timeout=60)
    assert done.code == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"metrics port {taken} is already in use" in done.stderr


def test_the_relay_observes_each_delivered_row_at_its_age_when_read() -> None:
    from adapters.relay import _observe_pickup

    read_at = datetime(2030, 1, 1, tzinfo=UTC)
    stamps = [(read_at - timedelta(milliseconds=ms)).isoformat() for ms in (4, 4, 40)]
    rows = [SimpleNamespace(created_at=s) for s in [*stamps, "not a time"]]
    before = histograms(generate_latest().decode())["orderflow_relay_pickup_seconds"]
    _observe_pickup(rows, read_at.timestamp())
    after = histograms(generate_latest().decode())["orderflow_relay_pickup_seconds"]
    delta = {bound: after[bound] - before[bound] for bound in after}
    assert delta[0.003] == 0 and delta[0.005] == 2 and delta[0.03] == 2 and delta[0.05] == 3
    assert delta[INF] == 3  # the unreadable stamp is skipped, never the relay's failure
