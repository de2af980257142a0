#!/usr/bin/env python3
"""Turns criterion's results (target/criterion/*/*/*/new/estimates.json) into the markdown
tables of BENCHMARKS.md: medians per benchmark and size, ratios against the baselines, the
2-thread speed-ups and the targets.

    python3 benches/summarize.py [target/criterion] > /tmp/tables.md
"""

import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")

GROUPS = [
    ("list_first_page", "List, first page (limit 20), random (user, agent) of 50 sessions"),
    ("list_first_page_hot", "List, first page (limit 20), the same pair every time (in cache)"),
    ("list_deep_offset", "List, deep page by offset (offset = half the deep pair's sessions)"),
    ("list_deep_cursor", "List, the same deep page by cursor"),
    ("list_filtered_workspace", "List, first page filtered by workspace_id (1 in 3 match)"),
    ("get", "Get one small session by id"),
    ("update_append_message", "Update: append one message to 100 (whole-record `update` of the "
     "context, or `append_message` to the history)"),
    ("update_small_rename", "Update: rename a small session"),
    ("state_save", "Save a turn: append one message to a context of 10 / 100 / 1,000 messages "
     "(`append_context`; a whole-record `update` that pushes it; the floors)"),
    ("create", "Create a small session (NewSession, AgentScope defaults)"),
    ("delete", "Delete (store size kept constant)"),
    ("concurrent", "Threads: median time per iteration (an iteration is one op per thread)"),
]


def load():
    res = {}
    for dirpath, _dirs, files in os.walk(ROOT):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        if not str(meta.get("value_str", "")).isdigit():
            continue  # another bench's results (durability names its cases)
        n = int(meta["value_str"])
        res[(meta["group_id"], meta["function_id"], n)] = est["median"]["point_estimate"]
    return res


def fmt(ns):
    if ns is None:
        return "–"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def fmt_n(n):
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k"


def main():
    res = load()
    sizes = sorted({k[2] for k in res})
    head = "| benchmark | " + " | ".join(f"N = {fmt_n(n)}" for n in sizes) + " |"
    rule = "|---|" + "---:|" * len(sizes)
    for group, title in GROUPS:
        funcs = []
        for (g, f, _n) in res:
            if g == group and f not in funcs:
                funcs.append(f)
        if not funcs:
            continue
        funcs.sort(key=lambda f: (not f.startswith("store"), f))
        print(f"#### {title} (`{group}`)\n")
        print(head)
        print(rule)
        for f in funcs:
            cells = [fmt(res.get((group, f, n))) for n in sizes]
            print(f"| {f} | " + " | ".join(cells) + " |")
        print()

    def ratio(a, b, n):
        x, y = res.get(a + (n,)), res.get(b + (n,))
        return None if x is None or y is None else y / x

    print("#### Ratios (baseline median ÷ store median; higher is better for the store)\n")
    print("| comparison | " + " | ".join(f"N = {fmt_n(n)}" for n in sizes) + " |")
    print(rule)
    comparisons = [
        ("typed list vs SQLite rows", ("list_first_page", "store_list"),
         ("list_first_page", "sqlite_rows")),
        ("typed list vs SQLite rows decoded", ("list_first_page", "store_list"),
         ("list_first_page", "sqlite_rows_decoded")),
        ("typed list vs naive HashMap", ("list_first_page", "store_list"),
         ("list_first_page", "naive_hashmap")),
        ("JSON list vs serde_json::to_vec(page)", ("list_first_page", "store_list_json"),
         ("list_first_page", "serde_json_to_vec_page")),
        ("JSON list vs SQLite rows", ("list_first_page", "store_list_json"),
         ("list_first_page", "sqlite_rows")),
        ("JSON list vs naive HashMap", ("list_first_page", "store_list_json"),
         ("list_first_page", "naive_hashmap")),
        ("hot page: typed list vs SQLite rows", ("list_first_page_hot", "store_list"),
         ("list_first_page_hot", "sqlite_rows")),
        ("hot page: JSON list vs serde_json::to_vec(page)",
         ("list_first_page_hot", "store_list_json"),
         ("list_first_page_hot", "serde_json_to_vec_page")),
        ("hot page: JSON list vs SQLite rows", ("list_first_page_hot", "store_list_json"),
         ("list_first_page_hot", "sqlite_rows")),
        ("deep page by offset, typed vs SQLite OFFSET", ("list_deep_offset", "store_list"),
         ("list_deep_offset", "sqlite_rows")),
        ("deep page by cursor, typed vs SQLite keyset", ("list_deep_cursor", "store_list"),
         ("list_deep_cursor", "sqlite_rows_keyset")),
        ("filtered list, typed vs SQLite", ("list_filtered_workspace", "store_list"),
         ("list_filtered_workspace", "sqlite_rows")),
        ("filtered list, typed vs naive HashMap", ("list_filtered_workspace", "store_list"),
         ("list_filtered_workspace", "naive_hashmap")),
        ("get vs SQLite", ("get", "store_get"), ("get", "sqlite_json")),
        ("get vs naive HashMap (clone)", ("get", "store_get"), ("get", "naive_hashmap_clone")),
        ("update 100 msgs vs SQLite decode/encode", ("update_append_message", "store_update"),
         ("update_append_message", "sqlite_decode_encode")),
        ("update 100 msgs vs naive in place", ("update_append_message", "store_update"),
         ("update_append_message", "naive_hashmap_in_place")),
        ("update small vs SQLite decode/encode", ("update_small_rename", "store_update"),
         ("update_small_rename", "sqlite_decode_encode")),
    ]
    for name, a, b in comparisons:
        cells = []
        for n in sizes:
            r = ratio(a, b, n)
            cells.append("–" if r is None else f"{r:.1f}×" if r >= 0.1 else f"{r:.3f}×")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()

    print("#### Against the floors (store median ÷ floor median, same run; lower is better)\n")
    print("| what | floor | target | " + " | ".join(f"N = {fmt_n(n)}" for n in sizes) + " |")
    print("|---|---|---|" + "---:|" * len(sizes))
    floors = [
        ("typed list, random first page", ("list_first_page", "store_list"),
         ("list_first_page", "floor_records"), "ready-made page, clone 20 `Arc`s", 1.3),
        ("JSON list, random first page", ("list_first_page", "store_list_json"),
         ("list_first_page", "floor_json"), "ready-made page bytes, copy", 1.2),
        ("update, append to 100 messages (69 KB)", ("update_append_message", "store_update"),
         ("update_append_message", "floor_encode"), "`serde_json::to_vec` of the record", 1.5),
        ("update, rename a small session", ("update_small_rename", "store_update"),
         ("update_small_rename", "floor_encode"), "`serde_json::to_vec` of the record", None),
    ]
    for name, a, b, floor, target in floors:
        cells = []
        for n in sizes:
            r = ratio(b, a, n)
            cells.append("–" if r is None else f"{r:.2f}×")
        t = "–" if target is None else f"≤ {target}×"
        print(f"| {name} | {floor} | {t} | " + " | ".join(cells) + " |")
    for ctx in (10, 100, 1000):
        for f, label in ((f"store_append_context_ctx{ctx}", "`append_context`"),
                         (f"store_update_push_ctx{ctx}", "`update` pushing it")):
            cells = []
            for n in sizes:
                t = res.get(("state_save", f, n))
                fa = res.get(("state_save", "floor_append", n))
                fe = res.get(("state_save", "floor_encode_message", n))
                cells.append("–" if None in (t, fa, fe) else f"{t / (2 * fa + fe):.2f}×")
            print(f"| save a turn, context {ctx}: {label} | 2 × append floor + the message's "
                  f"encode | ≤ 1× | " + " | ".join(cells) + " |")
    print()

    print("#### 2-thread speed-up (2 × t(1 thread) ÷ t(2 threads); 2.0× is perfect)\n")
    print("| workload | " + " | ".join(f"N = {fmt_n(n)}" for n in sizes) + " |")
    print(rule)
    for w in ["calibrate_alu", "list", "list_json", "get", "update_small", "mixed_90r_10w"]:
        cells = []
        for n in sizes:
            t1 = res.get(("concurrent", f"{w}_1t", n))
            t2 = res.get(("concurrent", f"{w}_2t", n))
            cells.append("–" if t1 is None or t2 is None else f"{2 * t1 / t2:.2f}×")
        print(f"| {w} | " + " | ".join(cells) + " |")
    cells = []
    for n in sizes:
        t1 = res.get(("concurrent", "list_1t", n))
        td = res.get(("concurrent", "list_disjoint_pairs_2t", n))
        cells.append("–" if t1 is None or td is None else f"{2 * t1 / td:.2f}×")
    print("| list, the two threads on disjoint halves of the pairs (diagnostic) | "
          + " | ".join(cells) + " |")
    cells = []
    for n in sizes:
        t1 = res.get(("concurrent", "list_1t", n))
        tw = res.get(("concurrent", "list_with_writer_2t", n))
        cells.append("–" if t1 is None or tw is None else f"{t1 / tw:.2f}×")
    print("| list while the other thread updates (reader's throughput vs list_1t) | "
          + " | ".join(cells) + " |")
    print()

    n = max(sizes)
    print(f"#### Targets (medians at N = {fmt_n(n)})\n")
    print("| target | measured | met? |")
    print("|---|---:|---|")

    def row(name, value, ok):
        print(f"| {name} | {value} | {'yes' if ok else '**no**'} |")

    def med(g, f):
        return res.get((g, f, n))

    t = med("list_first_page", "store_list")
    if t is not None:
        row("typed list ≤ 1 µs", fmt(t), t <= 1_000)
    r = ratio(("list_first_page", "store_list"), ("list_first_page", "sqlite_rows"), n)
    if r is not None:
        row("typed list ≥ 25× faster than SQLite", f"{r:.1f}×", r >= 25)
    t = med("list_first_page", "store_list_json")
    if t is not None:
        row("JSON list ≤ 4 µs", fmt(t), t <= 4_000)
    r = ratio(("list_first_page", "store_list_json"),
              ("list_first_page", "serde_json_to_vec_page"), n)
    if r is not None:
        row("JSON list ≥ 8× faster than serde_json of the page", f"{r:.1f}×", r >= 8)
    r = ratio(("list_first_page", "store_list_json"), ("list_first_page", "sqlite_rows"), n)
    if r is not None:
        row("JSON list ≥ 10× faster than SQLite", f"{r:.1f}×", r >= 10)
    t = med("update_append_message", "store_update")
    if t is not None:
        row("update (append to 100 messages) ≤ 5 µs", fmt(t), t <= 5_000)
    r = ratio(("update_append_message", "floor_encode"), ("update_append_message", "store_update"), n)
    if r is not None:
        row("update (append to 100 messages) ≤ 1.5× its encode floor", f"{r:.2f}×", r <= 1.5)
    t = med("update_small_rename", "store_update")
    if t is not None:
        row("update (small rename) ≤ 3 µs", fmt(t), t <= 3_000)
    r = ratio(("list_first_page", "floor_records"), ("list_first_page", "store_list"), n)
    if r is not None:
        row("typed list ≤ 1.3× its floor", f"{r:.2f}×", r <= 1.3)
    r = ratio(("list_first_page", "floor_json"), ("list_first_page", "store_list_json"), n)
    if r is not None:
        row("JSON list ≤ 1.2× its floor", f"{r:.2f}×", r <= 1.2)
    t = med("create", "store_create")
    if t is not None:
        row("create ≤ 3 µs", fmt(t), t <= 3_000)
    t1, t2 = med("concurrent", "list_1t"), med("concurrent", "list_2t")
    if t1 is not None and t2 is not None:
        s = 2 * t1 / t2
        row("2-thread read (typed list) throughput ≥ 1.7× one thread", f"{s:.2f}×", s >= 1.7)
    t1, t2 = med("concurrent", "list_json_1t"), med("concurrent", "list_json_2t")
    if t1 is not None and t2 is not None:
        s = 2 * t1 / t2
        row("2-thread read (JSON list) throughput ≥ 1.7× one thread", f"{s:.2f}×", s >= 1.7)
    print()


if __name__ == "__main__":
    main()
