#!/usr/bin/env python3
"""Turns bench/compare.sh's result lines into the comparison section of
docs/benchmarks.md (between <!-- compare:begin --> and <!-- compare:end -->)."""
import datetime
import json
import sys

(results_path, cores, kernel, messages, idle, big_idle, cycles, node, doc_path) = sys.argv[1:10]
rows = [json.loads(line) for line in open(results_path) if line.strip()]


def find(server, scenario, label=None):
    for row in rows:
        if row["server"] == server and row["scenario"] == scenario and (label is None or row["label"] == label):
            return row
    return None


def num(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return a / b if a and b else None


out = []
today = datetime.date.today().isoformat()
out.append(f"Run of {today}: {cores} cores, {kernel}, Node {node}; each server pinned to core 0, "
           "`sockgate-bench` to core 1; every server started fresh for each line. "
           "Server CPU is every thread's, from `/proc/<pid>/task/*/schedstat`.\n")

out.append("### Fan-out: 1,000 subscribers, one publisher, 100-byte payloads\n")
out.append(f"{messages} messages, at most 64 in flight. One delivery is one message received by one subscriber.\n")
out.append("| server | subscribers | deliveries per server CPU-second | deliveries/s | latency p50 | p99 | lost |")
out.append("|---|---|---|---|---|---|---|")
for row in rows:
    if row["scenario"] != "fanout" or row.get("rate"):
        continue
    lat = row["latency_us"]
    out.append(f"| {row['server']} | {row['label']} | {num(row['deliveries_per_server_cpu_sec'])} | "
               f"{num(row['deliveries_per_sec'])} | {lat['p50'] / 1000:.1f} ms | {lat['p99'] / 1000:.1f} ms | {row['lost']} |")

out.append("\n### Latency at a fixed 20,000 deliveries/s (20 messages/s to 1,000 raw subscribers)\n")
out.append("| server | p50 | p99 | max | lost |")
out.append("|---|---|---|---|---|")
for server in ["sockgate", "tungstenite"]:
    row = find(server, "fanout", "raw, 20,000 deliveries/s")
    if row:
        lat = row["latency_us"]
        out.append(f"| {server} | {lat['p50'] / 1000:.2f} ms | {lat['p99'] / 1000:.2f} ms | {lat['max'] / 1000:.2f} ms | {row['lost']} |")

out.append(f"\n### Idle connections ({idle} each, joined to 100 rooms) and churn ({cycles} cycles, 16 workers)\n")
out.append("| server | protocol | server memory per idle connection | connects/s | churn cycles/s | server CPU per cycle |")
out.append("|---|---|---|---|---|---|")
for row in rows:
    if row["scenario"] != "idle" or row["label"] not in ("raw", "socket.io", "socket.io polling"):
        continue
    churn = find(row["server"], "churn", row["label"])
    per = row["server_bytes_per_connection"]
    out.append(f"| {row['server']} | {row['label']} | {num(per / 1024 if per else None, 1)} KiB | {num(row['connects_per_sec'])} | "
               f"{num(churn['cycles_per_sec']) if churn else '–'} | {num(churn['server_cpu_us_per_cycle']) if churn else '–'} µs |")

big = find("sockgate", "idle", "raw, at the fd limit")
if big:
    per = big["server_bytes_per_connection"] or 0
    out.append(f"\n### At the file-descriptor limit\n")
    out.append(f"{big['open']:,} of {big['connections']:,} raw connections open and joined ({big['failed']} failed, "
               f"{num(big['connects_per_sec'])} connects/s), {per / 1024:.1f} KiB of server memory each: "
               f"projected {per * 100_000 / 2**30:.2f} GiB for 100,000 connections and {per * 1_000_000 / 2**30:.1f} GiB "
               "for 1,000,000 (memory only; kernel socket buffers come on top, and one process needs the file "
               "descriptors).\n")


def fanout_rate(server, label):
    row = find(server, "fanout", label)
    return row and row["deliveries_per_server_cpu_sec"]


raw = fanout_rate("sockgate", "raw subscribers")
sio = fanout_rate("sockgate", "socket.io subscribers")
mixed = fanout_rate("sockgate", "mixed subscribers")
checks = [
    ("fan-out vs Node ws (raw)", ratio(raw, fanout_rate("node-ws", "raw subscribers")), ">= 10", lambda r: r >= 10),
    ("fan-out vs Node socket.io", ratio(sio, fanout_rate("node-socketio", "socket.io subscribers")), ">= 10", lambda r: r >= 10),
    ("fan-out vs bare tokio-tungstenite (raw)", ratio(raw, fanout_rate("tungstenite", "raw subscribers")), ">= 0.8", lambda r: r >= 0.8),
    ("fan-out vs bare socketioxide (socket.io)", ratio(sio, fanout_rate("socketioxide", "socket.io subscribers")), ">= 0.9", lambda r: r >= 0.9),
]
sg_lat = find("sockgate", "fanout", "raw, 20,000 deliveries/s")
tt_lat = find("tungstenite", "fanout", "raw, 20,000 deliveries/s")
if sg_lat and tt_lat:
    checks.append(("p99 latency at 20,000/s vs bare tokio-tungstenite", sg_lat["latency_us"]["p99"] / max(tt_lat["latency_us"]["p99"], 1), "<= 1.2", lambda r: r <= 1.2))
for label, limit in [("raw", 6144), ("socket.io", 12288)]:
    row = find("sockgate", "idle", label)
    if row and row["server_bytes_per_connection"]:
        per = row["server_bytes_per_connection"]
        checks.append((f"idle memory per {label} connection (KiB)", per / 1024, f"<= {limit // 1024}", lambda r, limit=limit: r * 1024 <= limit))
out.append("\n### Against the targets\n")
out.append("| target | this run | goal | met |")
out.append("|---|---|---|---|")
for label, value, goal, ok in checks:
    met = "–" if value is None else ("yes" if ok(value) else "**no**")
    out.append(f"| {label} | {num(value, 2)} | {goal} | {met} |")
if raw and sio and mixed:
    between = min(raw, sio) <= mixed <= max(raw, sio)
    out.append(f"| mixed room between raw and socket.io | {num(mixed)} | between {num(min(raw, sio))} and {num(max(raw, sio))} | {'yes' if between else '**no**'} |")
if big:
    out.append(f"| idle connections at the fd limit, no failed joins | {big['open']:,} open, {big['failed']} failed | {big['connections']:,}, 0 failed | "
               f"{'yes' if big['failed'] == 0 and big['open'] == big['connections'] else '**no**'} |")

section = "\n".join(out)
doc = open(doc_path).read()
begin, end = "<!-- compare:begin -->", "<!-- compare:end -->"
if begin in doc and end in doc:
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc = f"{head}{begin}\n{section}\n{end}{tail}"
else:
    doc = f"{doc.rstrip()}\n\n{begin}\n{section}\n{end}\n"
open(doc_path, "w").write(doc)
