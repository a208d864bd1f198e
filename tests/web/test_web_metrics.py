"""/metrics is valid Prometheus text (exposition format 0.0.4) and tells the journal's truth."""

import math
import re

import pytest

from tests.journal import samples as s
from tests.web.conftest import NOW, serving, status_with_secrets
from journal.writer import JournalWriter
from web.app import create_app
from web.metrics import LATENCY_BUCKETS_MS, render

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^(?P<name>{NAME})(?:\{{(?P<labels>{LABEL}(?:,{LABEL})*)?\}})? (?P<value>\S+)(?: -?\d+)?$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prometheus(text):
    """A strict reader of the text format: returns {family: {"type", "samples": [(name, labels, value)]}}."""
    assert text.endswith("\n"), "exposition must end with a newline"
    families, current = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, keyword, name, *rest = line.split(" ", 3)
            assert re.fullmatch(NAME, name), f"line {number}: bad metric name {name!r}"
            family = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if keyword == "TYPE":
                assert family["type"] is None and not family["samples"], f"line {number}: TYPE after samples or twice"
                assert rest and rest[0] in TYPES, f"line {number}: unknown type"
                family["type"] = rest[0]
            else:
                family["help"] = rest[0] if rest else ""
            current = name
            continue
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"line {number} is not a sample: {line!r}"
        name = match["name"]
        family_name = next((f for f in (name, re.sub(r"_(bucket|sum|count)$", "", name)) if f in families), name)
        assert family_name == current, f"line {number}: sample {name} outside its family block"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        value = float(match["value"].replace("+Inf", "inf").replace("-Inf", "-inf"))
        families[family_name]["samples"].append((name, labels, value))
    for name, family in families.items():
        if family["type"] == "histogram":
            buckets = [(float(l["le"].replace("+Inf", "inf")), v) for n, l, v in family["samples"] if n == f"{name}_bucket"]
            assert [b for b, _ in buckets] == sorted(b for b, _ in buckets) and math.isinf(buckets[-1][0])
            assert [v for _, v in buckets] == sorted(v for _, v in buckets), "buckets must be cumulative"
            count = [v for n, _, v in family["samples"] if n == f"{name}_count"]
            assert count == [buckets[-1][1]]
        if family["type"] == "counter":
            assert name.endswith("_total"), name
            assert all(v >= 0 for _, _, v in family["samples"])
    return families


def values(families, name):
    return {tuple(sorted(labels.items())): v for n, labels, v in families[name]["samples"] if n == name}


@pytest.fixture
def metrics_text(journal_path):
    with serving(create_app(str(journal_path), status_with_secrets, clock=lambda: NOW)) as client:
        response = client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        yield response.text, client, journal_path


def test_metrics_parse_as_prometheus_text_and_count_the_journal(metrics_text):
    text, _, _ = metrics_text
    families = parse_prometheus(text)
    assert values(families, "smtbot_decisions_total") == {
        (("kind", "NO_SETUP"),): 0, (("kind", "REJECT"),): 1, (("kind", "TAKE"),): 1}
    assert values(families, "smtbot_orders_total")[(("result", "would_take"),)] == 1
    assert values(families, "smtbot_orders_total")[(("result", "ok"),)] == 1
    assert values(families, "smtbot_reconnects_total") == {(): 1}
    assert values(families, "smtbot_open_positions") == {(): 1}
    assert values(families, "smtbot_equity_usdt") == {(): 10001.25}
    assert values(families, "smtbot_actor_queue_depth") == {(("actor", "journal"),): 2, (("actor", "router"),): 0}
    assert families["smtbot_cycle_latency_ms"]["type"] == "histogram"
    buckets = {l["le"]: v for n, l, v in families["smtbot_cycle_latency_ms"]["samples"] if n.endswith("_bucket")}
    assert (buckets["5"], buckets["10"], buckets["50"], buckets["+Inf"]) == (2, 3, 5, 5)
    sums = [v for n, _, v in families["smtbot_cycle_latency_ms"]["samples"] if n == "smtbot_cycle_latency_ms_sum"]
    assert sums == [74.25]


def test_metrics_counters_grow_with_the_journal(metrics_text):
    _, client, path = metrics_text
    writer = JournalWriter(path)
    writer.append_now([s.decision(symbol="SOLUSDT"), s.event("reconnect"), s.ack(link="z", outcome="rejected")])
    writer.close()
    families = parse_prometheus(client.get("/metrics").text)
    assert values(families, "smtbot_decisions_total")[(("kind", "NO_SETUP"),)] == 1
    assert values(families, "smtbot_reconnects_total") == {(): 2}
    assert values(families, "smtbot_orders_total")[(("result", "rejected"),)] == 1


def test_without_a_status_source_the_live_families_are_simply_absent():
    counters = {"decisions_by_kind": {}, "orders_by_result": {}, "reconnects": 0, "executions": 0, "trades": 0, "bars": 0}
    families = parse_prometheus(render(counters, 0, {}, 0))
    assert "smtbot_cycle_latency_ms" not in families and "smtbot_equity_usdt" not in families
    assert values(families, "smtbot_open_positions") == {(): 0}


def test_label_values_are_escaped():
    counters = {"decisions_by_kind": {}, "orders_by_result": {}, "reconnects": 0, "executions": 0, "trades": 0, "bars": 0}
    text = render(counters, 0, {"queue_depth": {'sym"bol\\x\nnew': 3}}, 0)
    families = parse_prometheus(text)
    assert values(families, "smtbot_actor_queue_depth") == {(("actor", 'sym\\"bol\\\\x\\nnew'),): 3}


def test_the_latency_histogram_has_a_bucket_per_bound_plus_inf():
    counters = {"decisions_by_kind": {}, "orders_by_result": {}, "reconnects": 0, "executions": 0, "trades": 0, "bars": 0}
    families = parse_prometheus(render(counters, 0, {"cycle_latency_ms": [0.5, 3000]}, 0))
    buckets = [v for n, _, v in families["smtbot_cycle_latency_ms"]["samples"] if n.endswith("_bucket")]
    assert len(buckets) == len(LATENCY_BUCKETS_MS) + 1
    assert buckets[0] == 1 and buckets[-2] == 1 and buckets[-1] == 2
