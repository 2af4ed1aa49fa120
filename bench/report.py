#!/usr/bin/env python3
"""Turns bench/run.sh's raw measurements into the results table and the goals chart.

    bench/report.py SCENARIOS_TSV RAW_TSV TABLE_MD CHART_SVG "CHART TITLE"

SCENARIOS_TSV has one line per scenario, in table order:
    key  title  measure  unit  goal_kind  goal_value  aggregate
where goal_kind is ratio_ge (A/B must be at least goal_value), ratio_le (A/B at most),
abs_le (A itself at most) or none (reported only), and aggregate is median or max.
RAW_TSV has one line per measurement: key  side  round  value, side A for imagestore and
B for the reference.

Ratios are taken round by round (A of round i over B of round i) and then their median
is reported: the runs alternate A, B, A, B…, so a slow stretch of the machine lands on
both halves of a pair and cancels in its ratio, which a ratio of two medians would not
guarantee.

The chart plots, for every scenario with a goal, how much of its budget the measurement
uses (measured/goal for "at most" goals, goal/measured for "at least" goals) on a log
scale: the line at 1 is the goal, a bar past it is a miss whatever the scenario's unit or
direction, so a regression stands out at a glance.

Only the standard library is used, so that the benchmark needs no pip install.
"""

import html
import math
import statistics
import sys
from collections import defaultdict


def fmt(value, unit):
    if value is None:
        return "–"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:g} {unit}"


def goal_text(kind, goal, unit):
    if kind == "ratio_ge":
        return f"≥ {goal:g}×"
    if kind == "ratio_le":
        return f"≤ {goal:g}×"
    if kind == "abs_le":
        return f"≤ {fmt(goal, unit)}"
    return "–"


def load(scenarios_path, raw_path):
    scenarios = []
    with open(scenarios_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            key, title, measure, unit, kind, goal, agg = line.rstrip("\n").split("\t")
            scenarios.append(
                dict(key=key, title=title, measure=measure, unit=unit, kind=kind,
                     goal=float(goal) if goal else None, agg=agg)
            )
    raw = defaultdict(lambda: defaultdict(dict))
    with open(raw_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            key, side, rnd, value = line.rstrip("\n").split("\t")
            raw[key][side][int(rnd)] = float(value)
    return scenarios, raw


def summarize(s, raw):
    a_rounds, b_rounds = raw[s["key"]].get("A", {}), raw[s["key"]].get("B", {})
    agg = max if s["agg"] == "max" else statistics.median
    a = agg(a_rounds.values()) if a_rounds else None
    b = agg(b_rounds.values()) if b_rounds else None
    ratios = [a_rounds[r] / b_rounds[r] for r in a_rounds if r in b_rounds and b_rounds[r] > 0]
    ratio = statistics.median(ratios) if ratios else None
    kind, goal = s["kind"], s["goal"]
    measured = a if kind == "abs_le" else ratio
    if kind == "none" or measured is None or goal is None:
        budget, verdict = None, "–" if kind == "none" else "no data"
    elif kind == "ratio_ge":
        budget = goal / measured if measured > 0 else math.inf
        verdict = "met" if measured >= goal else "**MISSED**"
    else:
        budget = measured / goal
        verdict = "met" if measured <= goal else "**MISSED**"
    spread = f"{min(ratios):.2f}–{max(ratios):.2f}" if len(ratios) > 1 else "–"
    return dict(s, a=a, b=b, ratio=ratio, ratios=ratios, spread=spread, budget=budget,
                verdict=verdict, n=max(len(a_rounds), len(b_rounds)))


def table(rows):
    out = [
        "| scenario | measure | imagestore (A) | reference (B) | A/B (range) | goal | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}× ({r['spread']})"
        out.append(
            f"| {r['title']} | {r['measure']} | {fmt(r['a'], r['unit'])} | "
            f"{fmt(r['b'], r['unit']) if r['b'] is not None else '–'} | {ratio} | "
            f"{goal_text(r['kind'], r['goal'], r['unit'])} | {r['verdict']} |"
        )
    return "\n".join(out) + "\n"


def chart(rows, title):
    rows = [r for r in rows if r["budget"] is not None]
    label_w, plot_w, value_w, row_h, top = 520, 420, 230, 26, 56
    width = label_w + plot_w + value_w
    height = top + row_h * len(rows) + 40
    lo, hi = 0.1, 20.0  # the log scale: a tenth of the budget to twenty times it

    def x(v):
        v = min(max(v, lo), hi)
        return label_w + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    e = html.escape
    svg = [
        "<!-- imagestore's benchmark goals chart, written by bench/report.py for bench/run.sh "
        "(the latest run; each run's table is in bench/RESULTS.md). Do not edit by hand. -->",
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{e(title)}</text>',
        '<text x="10" y="38" fill="#555">share of each goal\'s budget used (log scale); '
        "past the line at 1 = goal missed</text>",
    ]
    for tick in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20):
        tx = x(tick)
        svg.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" '
                   f'y2="{top + row_h * len(rows)}" stroke="#ddd"/>')
        svg.append(f'<text x="{tx:.1f}" y="{top + row_h * len(rows) + 16}" '
                   f'text-anchor="middle" fill="#555">{tick:g}</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        colour = "#2e7d32" if r["verdict"] == "met" else "#c62828"
        svg.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                   f'{e(r["title"])} · {e(r["measure"])}</text>')
        svg.append(f'<rect x="{label_w}" y="{y + 5}" width="{x(r["budget"]) - label_w:.1f}" '
                   f'height="{row_h - 10}" fill="{colour}"/>')
        measured = fmt(r["a"], r["unit"]) if r["kind"] == "abs_le" else f"{r['ratio']:.2f}×"
        if r["budget"] > hi:  # off the scale: say so rather than let the bar look capped
            measured = "▶ " + measured
        svg.append(f'<text x="{label_w + plot_w + 8}" y="{y + 16}">{e(measured)} '
                   f'(goal {e(goal_text(r["kind"], r["goal"], r["unit"]))})</text>')
    gx = x(1)
    svg.append(f'<line x1="{gx:.1f}" y1="{top - 10}" x2="{gx:.1f}" '
               f'y2="{top + row_h * len(rows) + 4}" stroke="black" stroke-width="2"/>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def main():
    if len(sys.argv) != 6:
        sys.exit(f"usage: {sys.argv[0]} SCENARIOS_TSV RAW_TSV TABLE_MD CHART_SVG TITLE")
    scenarios, raw = load(sys.argv[1], sys.argv[2])
    rows = [summarize(s, raw) for s in scenarios if s["key"] in raw]
    with open(sys.argv[3], "w", encoding="utf-8") as f:
        f.write(table(rows))
    with open(sys.argv[4], "w", encoding="utf-8") as f:
        f.write(chart(rows, sys.argv[5]))


if __name__ == "__main__":
    main()
