"""The `/metrics` endpoint of a worker: this process's counters and histograms (`core.metrics`) and
the deployment's gauges, read at scrape time from Redis and the database through `core.health`
(queue depth, ledger rows of live campaigns, events waiting, workers alive): every worker reports
the same values, so dashboards take `max()` over instances."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core import health

log = logging.getLogger(__name__)


class ClusterCollector(Collector):
    """Gauges of the whole deployment, read when Prometheus scrapes (at most every `max_age` s)."""

    def __init__(self, max_age: float = 5.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    NAMES = ("cnss_queue_depth", "cnss_ledger_rows", "cnss_campaigns", "cnss_inbound_events_waiting",
             "cnss_workers_alive", "cnss_database_up", "cnss_sending_oldest_seconds", "cnss_inbound_dead_letters",
             "cnss_outbox_oldest_seconds")

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only: registering the collector must not query Redis and the database."""
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.max_age:
                self._cached = (time.monotonic(), self._read())
            yield from self._cached[1]

    def _read(self) -> list[GaugeMetricFamily]:
        out: list[GaugeMetricFamily] = []
        state = health.cluster_state()
        depth = GaugeMetricFamily("cnss_queue_depth", "Jobs waiting in each RQ queue", labels=["queue"])
        for name, n in state.queue_depth.items():
            depth.add_metric([name], n)
        out.append(depth)
        rows = GaugeMetricFamily("cnss_ledger_rows", "Ledger rows of running, paused and scheduled campaigns, by "
                                 "status", labels=["status"])
        for status, n in state.ledger_rows.items():
            rows.add_metric([status], n)
        out.append(rows)
        campaigns = GaugeMetricFamily("cnss_campaigns", "Campaigns by status", labels=["status"])
        for status, n in state.campaigns.items():
            campaigns.add_metric([status], n)
        out.append(campaigns)
        if state.inbound_pending is not None:
            out.append(GaugeMetricFamily("cnss_inbound_events_waiting", "Stored inbound events not applied yet",
                                         value=state.inbound_pending))
        if state.workers_alive is not None:
            out.append(GaugeMetricFamily("cnss_workers_alive", "RQ workers registered in Redis",
                                         value=state.workers_alive))
        out.append(GaugeMetricFamily("cnss_inbound_dead_letters", "Inbound events set aside after repeated failures, "
                                     "waiting for an administrator", value=state.dead_letters))
        out.append(GaugeMetricFamily("cnss_sending_oldest_seconds", "Age of the oldest ledger row still being sent "
                                     "(0: none)", value=state.oldest_sending_seconds))
        out.append(GaugeMetricFamily("cnss_outbox_oldest_seconds", "Age of the oldest message outside campaigns "
                                     "neither sent nor failed (0: none)", value=state.outbox_oldest_seconds))
        out.append(GaugeMetricFamily("cnss_database_up", "1 when the database answered the last scrape",
                                     value=1.0 if state.database_up else 0.0))
        return out


_served: dict[str, Any] = {}


def serve(port: int, host: str = "0.0.0.0") -> bool:
    """Expose this process's metrics and the cluster gauges on http://host:port/metrics. A port
    already taken (two workers on one machine) is logged and skipped: the worker still works."""
    if port <= 0 or "server" in _served:
        return False
    if "collector" not in _served:
        _served["collector"] = ClusterCollector()
        REGISTRY.register(_served["collector"])
    try:
        _served["server"] = start_http_server(port, addr=host)
    except OSError as err:
        log.warning("Metrics not served on port %d: %s", port, err)
        return False
    log.info("Metrics on http://%s:%d/metrics", host, port)
    return True
