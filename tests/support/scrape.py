"""The operator's /metrics, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

DERIVED = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def scrape(port: int) -> str:
    """The operator's /metrics text on ``port`` ("" while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


class Exported:
    """Names and label names a scrape shows: samples, and families declared without samples yet."""

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.names: set[str] = set()
        self.labels: dict[str, set[str]] = {}
        for family in text_string_to_metric_families(text):
            self.names.update(family.name + suffix for suffix in DERIVED.get(family.type, ("",)))
            for sample in family.samples:
                self.samples.append((sample.name, dict(sample.labels), float(sample.value)))
                self.names.add(sample.name)
                self.labels.setdefault(sample.name, set()).update(sample.labels)

    def value(self, name: str, **labels: str) -> float | None:
        for sample, have, value in self.samples:
            if sample == name and labels.items() <= have.items():
                return value
        return None
