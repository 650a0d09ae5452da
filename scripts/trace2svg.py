#!/usr/bin/env python3
"""Draw a Calcifer trace (Chrome Trace Event JSON, from CALCIFER_TRACE or cf_trace_start).

    scripts/trace2svg.py TRACE.json [-o OUT.svg] [--long-ms N] [--width PX]

Writes a self-contained SVG timeline, one lane per thread (the loop, then each pool worker):
each loop iteration's phases as coloured bands, callbacks and pool jobs as boxes on their
thread's lane, callbacks longer than --long-ms (default 10) marked in red with their name.
Prints a text summary on stdout: the sites by total time, the longest blocks, and the loop
delay percentiles (the busy time of each iteration: wall time minus the poll wait).
Needs only the Python standard library.
"""
import argparse
import json
import sys
from xml.sax.saxutils import escape

PHASES = {"timers": "#f4a259", "pending": "#bc4b51", "poll": "#8cb369",
          "check": "#5b8e7d", "close": "#7c6a8a", "wait": "#d9d9d9"}
LANE_H = 46
LABEL_W = 130


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"trace2svg: cannot read trace '{path}': {e}")
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    return [e for e in events if isinstance(e, dict) and "ph" in e]


def lanes_of(events):
    names = {}
    for e in events:
        if e["ph"] == "M" and e.get("name") == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
    keys = sorted({(e["pid"], e["tid"]) for e in events if e["ph"] != "M"} | set(names))
    return [(k, names.get(k, f"thread {k[1]}")) for k in keys]


def percentile(values, pct):
    if not values:
        return 0.0
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(round(pct / 100.0 * len(s) + 0.5)) - 1))
    return s[i]


def summary(events, long_ms, out):
    spans = [e for e in events if e["ph"] == "X"]
    callbacks = [e for e in spans if e.get("cat") in ("callback", "pool")]
    by_site = {}
    for e in callbacks:
        t = by_site.setdefault(e["name"], [0.0, 0])
        t[0] += float(e["dur"])
        t[1] += 1
    out.write("sites by total time (ms, calls):\n")
    for name, (total, count) in sorted(by_site.items(), key=lambda kv: -kv[1][0])[:15]:
        out.write(f"  {total / 1000:10.3f} {count:7d}  {name}\n")
    out.write(f"longest blocks (callbacks on the loop over {long_ms} ms first):\n")
    loop_cbs = [e for e in callbacks if e.get("cat") == "callback"]
    for e in sorted(loop_cbs, key=lambda e: -float(e["dur"]))[:10]:
        mark = " LONG" if float(e["dur"]) >= long_ms * 1000 else ""
        site = e.get("args", {}).get("created at", "")
        where = f"  (created at {site})" if site else ""
        out.write(f"  {float(e['dur']) / 1000:10.3f} ms  {e['name']}{where}{mark}\n")
    # An iteration's busy time: its span minus the poll waits inside it.
    loop_spans = sorted((e for e in spans if e.get("cat") == "loop"), key=lambda e: float(e["ts"]))
    waits = [(float(e["ts"]), float(e["dur"])) for e in loop_spans if e["name"] == "wait"]
    busy = []
    for e in loop_spans:
        if e["name"] != "iteration":
            continue
        t0, t1 = float(e["ts"]), float(e["ts"]) + float(e["dur"])
        waited = sum(d for ts, d in waits if t0 <= ts < t1)
        busy.append(max(0.0, t1 - t0 - waited))
    out.write("loop delay (busy time per iteration, ms): ")
    if busy:
        out.write(" ".join(f"p{p}={percentile(busy, p) / 1000:.3f}" for p in (50, 90, 99, 100)))
        out.write(f" over {len(busy)} iterations\n")
    else:
        out.write("no iterations recorded\n")


def svg(events, long_ms, width):
    lanes = lanes_of(events)
    stamped = [e for e in events if e["ph"] != "M" and "ts" in e]
    if not stamped:
        t0, t1 = 0.0, 1.0
    else:
        t0 = min(float(e["ts"]) for e in stamped)
        t1 = max(float(e["ts"]) + float(e.get("dur", 0)) for e in stamped)
    span = max(t1 - t0, 1.0)
    plot_w = width - LABEL_W - 10
    x = lambda ts: LABEL_W + (float(ts) - t0) / span * plot_w  # noqa: E731
    height = 40 + LANE_H * len(lanes) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           f'<text x="10" y="18" font-size="13">Calcifer trace: {span / 1000:.1f} ms, '
           f'{len(lanes)} threads; red: callbacks of {long_ms} ms or more</text>']
    row = {k: i for i, (k, _) in enumerate(lanes)}
    for i, (key, name) in enumerate(lanes):
        y = 30 + i * LANE_H
        out.append(f'<g class="lane" data-tid="{key[1]}">')
        out.append(f'<rect x="0" y="{y}" width="{width}" height="{LANE_H - 4}" '
                   f'fill="{"#f7f7f7" if i % 2 else "#eeeeee"}"/>')
        out.append(f'<text x="6" y="{y + 26}">{escape(name)}</text>')
        out.append("</g>")
    for e in stamped:
        if e["ph"] != "X":
            continue
        y = 30 + row[(e["pid"], e["tid"])] * LANE_H
        x0 = x(e["ts"])
        w = max(float(e["dur"]) / span * plot_w, 0.5)
        name = e.get("name", "")
        title = escape(f"{name}: {float(e['dur']) / 1000:.3f} ms")
        if e.get("cat") == "loop" and name in PHASES:
            out.append(f'<rect x="{x0:.2f}" y="{y + 2}" width="{w:.2f}" height="10" '
                       f'fill="{PHASES[name]}"><title>{title}</title></rect>')
        elif e.get("cat") == "loop":
            out.append(f'<rect x="{x0:.2f}" y="{y}" width="{w:.2f}" height="2" fill="#444">'
                       f'<title>{title}</title></rect>')
        else:
            long = float(e["dur"]) >= long_ms * 1000
            fill = "#d62828" if long else ("#3a86ff" if e.get("cat") == "pool" else "#577590")
            out.append(f'<rect x="{x0:.2f}" y="{y + 14}" width="{w:.2f}" height="22" '
                       f'fill="{fill}" stroke="#222" stroke-width="0.2"><title>{title}</title>'
                       '</rect>')
            if long:
                out.append(f'<text x="{x0:.2f}" y="{y + 12}" fill="#d62828">'
                           f'{escape(name.split(" ")[0])}</text>')
    ly = 30 + LANE_H * len(lanes) + 18
    lx = LABEL_W
    for name, colour in PHASES.items():
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{name}</text>')
        lx += 80
    for name, colour in (("callback", "#577590"), ("pool job", "#3a86ff"), ("long", "#d62828")):
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{name}</text>')
        lx += 80
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("-o", "--output", help="the SVG file (default: TRACE with .svg)")
    ap.add_argument("--long-ms", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=1200)
    args = ap.parse_args()
    events = load(args.trace)
    out = args.output or (args.trace.rsplit(".", 1)[0] + ".svg")
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(svg(events, args.long_ms, args.width))
    except OSError as e:
        sys.exit(f"trace2svg: cannot write '{out}': {e}")
    summary(events, args.long_ms, sys.stdout)


if __name__ == "__main__":
    main()
