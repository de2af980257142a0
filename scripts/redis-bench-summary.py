#!/usr/bin/env python3
"""Turns the Redis benchmarks' results (benches/redis.rs) into the markdown tables of
BENCHMARKS.md: criterion's medians of `redis_backend`, `agentscope_pattern` and `redis_cluster`
per N, the ratio of the AgentScope pattern to our list, and, from the benchmark's own output
(given as a second argument), the round trips per list and the Cluster's percentiles.

    scripts/with-redis.sh cargo bench --features redis --bench redis | tee /tmp/redis-bench.out
    python3 scripts/redis-bench-summary.py target/criterion /tmp/redis-bench.out
"""

import json
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
LOG = sys.argv[2] if len(sys.argv) > 2 else None
GROUPS = ("redis_backend", "agentscope_pattern", "redis_cluster")


def load():
    res = {}
    for dirpath, _dirs, files in os.walk(ROOT):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        if meta.get("group_id") not in GROUPS or not str(meta.get("value_str", "")).isdigit():
            continue
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        key = (meta["group_id"], meta["function_id"], int(meta["value_str"]))
        res[key] = est["median"]["point_estimate"]
    return res


def fmt(ns):
    if ns is None:
        return "–"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def main():
    res = load()
    sizes = sorted({n for (g, _f, n) in res if g != "redis_cluster"})
    rows = [
        ("redis_backend", "list_first_page_20", "ours: `list_json` (newest 20)"),
        ("redis_backend", "list_typed_first_page_20", "ours: `list` (typed)"),
        ("agentscope_pattern", "list_first_page_20",
         "AgentScope 2.0.0 pattern (SMEMBERS + N × GET, parse, sort, encode)"),
        ("redis_backend", "update_rename", "ours: `update` (rename)"),
        ("redis_backend", "create", "ours: `create`"),
    ]
    print("| benchmark | " + " | ".join(f"N = {n:,}" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for g, f, title in rows:
        print(f"| {title} | " + " | ".join(fmt(res.get((g, f, n))) for n in sizes) + " |")
    cells = []
    for n in sizes:
        a = res.get(("agentscope_pattern", "list_first_page_20", n))
        b = res.get(("redis_backend", "list_first_page_20", n))
        cells.append(f"{a / b:.1f}×" if a and b else "–")
    print("| **AgentScope pattern ÷ ours (`list_json`)** | " + " | ".join(cells) + " |")
    cells = []
    for n in sizes:
        a = res.get(("agentscope_pattern", "list_first_page_20", n))
        b = res.get(("redis_backend", "list_typed_first_page_20", n))
        cells.append(f"{a / b:.1f}×" if a and b else "–")
    print("| AgentScope pattern ÷ ours (typed `list`) | " + " | ".join(cells) + " |")

    cluster = sorted((n, v) for (g, f, n), v in res.items() if g == "redis_cluster")
    for n, v in cluster:
        print(f"\nCluster, `redis_cluster/list_first_page_20/{n}` (criterion median): {fmt(v)}")

    if LOG:
        with open(LOG) as f:
            text = f.read()
        trips = re.findall(r"N=(\d+): round trips per list: ours ([\d.]+), "
                           r"agentscope pattern ([\d.]+)", text)
        if trips:
            print("\n| N | round trips per list, ours | AgentScope pattern |")
            print("|---:|---:|---:|")
            for n, ours, theirs in trips:
                print(f"| {int(n):,} | {float(ours):g} | {float(theirs):g} |")
        for line in text.splitlines():
            if line.startswith("cluster"):
                print(f"\n{line}")


if __name__ == "__main__":
    main()
