#!/usr/bin/env python3
"""Draw the boot timeline of the smpboot example kernel as an SVG.

Reads serial logs (the `SMPBOOT CPU` and `SMPBOOT RESULT` lines, docs/example-kernel.md)
and draws one panel per log: a row per CPU with a bar from kick to alive and from alive to
online, failed CPUs marked in red. Standard library only: python3 is there wherever meson is.

usage: smpboot_timeline.py [--same-scale] [--title T] -o out.svg LOG [LOG...]
"""

import argparse
import math
import re
import sys
from xml.sax.saxutils import escape, quoteattr

# Geometry in SVG pixels. Rows get thinner as CPUs are added so 255 CPUs still fit a screen.
PLOT_W = 560
PLOT_H_TARGET = 420
ROW_H_MIN, ROW_H_MAX = 1.6, 12.0
MARGIN_L, MARGIN_R = 58, 18
PANEL_GAP = 16
FIG_TOP = 70          # overall title and legend
PANEL_HEAD = 44       # panel title and subtitle
AXIS_H = 44           # x tick labels and axis title
MIN_SEG_W = 1.5       # a 1 us setup segment is 0.05 px wide: widen it so it shows

COLOURS = {"wake": "#8fb8de", "setup": "#1f4e79", "failed": "#c0392b", "failed_band": "#f9d6d2",
           "grid": "#e4e4e4", "axis": "#555555", "text": "#222222", "muted": "#666666"}

TOKEN = re.compile(r"(\w+)=(\"[^\"]*\"|\S+)")


class Cpu:
    def __init__(self, fields):
        self.idx = to_int(fields.get("idx"))
        self.apic = fields.get("apic", "?")
        self.state = fields.get("state", "?")
        self.kick = to_int(fields.get("kick_us"))
        self.alive = to_int(fields.get("alive_us"))
        self.online = to_int(fields.get("online_us"))

    def last_time(self):
        times = [t for t in (self.kick, self.alive, self.online) if t is not None]
        return max(times) if times else None


class Boot:
    def __init__(self, path):
        self.path = path
        self.cpus = {}
        self.result = {}

    def end_us(self):
        times = [c.last_time() for c in self.cpus.values() if c.last_time() is not None]
        bringup = to_int(self.result.get("bringup_us"))
        if bringup is not None:
            times.append(bringup)
        return max(times, default=0)


def to_int(text):
    """A report time or count; `-` (never reached) and anything unparsable become None."""
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def dash(v):
    return "-" if v is None else v


def parse_log(path):
    boot = Boot(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            # Serial output can carry other text before the marker; only the last boot of a
            # log that holds several is drawn (a BOOT line starts a new one).
            at = line.find("SMPBOOT ")
            if at < 0:
                continue
            kind, _, rest = line[at + 8:].strip().partition(" ")
            fields = {k: v.strip('"') for k, v in TOKEN.findall(rest)}
            if kind == "BOOT":
                boot = Boot(path)
            elif kind == "CPU" and to_int(fields.get("idx")) is not None:
                cpu = Cpu(fields)
                boot.cpus[cpu.idx] = cpu
            elif kind == "RESULT":
                boot.result = fields
    if not boot.cpus:
        raise ValueError(f"{path}: no 'SMPBOOT CPU' lines")
    return boot


def axis_limit(end_us):
    """The axis end and tick step: a 1, 2 or 5 times 10^k step giving 4 to 10 intervals,
    the one that overshoots end_us least (the coarser one on a tie)."""
    end_us = max(end_us, 1)
    best = None
    top = int(math.floor(math.log10(end_us)))
    for k in range(top + 1, top - 3, -1):
        for m in (5, 2, 1):
            step = m * 10 ** k
            intervals = math.ceil(end_us / step)
            if 4 <= intervals <= 10 and (best is None or intervals * step < best[0]):
                best = (intervals * step, step)
    return best


def label_every(rows, row_h):
    """Label rows every k (a power of two): at least 14 px apart and about 8 labels."""
    k = 1
    while k * row_h < 14 or math.ceil(rows / k) > 9:
        k *= 2
    return k


def fmt_ms(us):
    return f"{round(us / 1000, 6):g}"


def attrs(**kv):
    return " ".join(f"{k}={quoteattr(str(v))}" for k, v in kv.items())


def px(v):
    return f"{v:.2f}".rstrip("0").rstrip(".")


def draw_panel(out, boot, x0, y0, row_h, x_max_us, x_step_us, panel_no):
    cpus = [boot.cpus[i] for i in sorted(boot.cpus)]
    plot_x, plot_y = x0 + MARGIN_L, y0 + PANEL_HEAD
    plot_h = len(cpus) * row_h
    scale = PLOT_W / x_max_us

    def x_of(us):
        return plot_x + us * scale

    r = boot.result
    failed = sum(1 for c in cpus if c.state == "failed")
    online = sum(1 for c in cpus if c.state == "online")
    mode = r.get("mode", "?")
    bringup = to_int(r.get("bringup_us"))
    title = f"{mode} · {len(cpus)} CPUs · bringup_us={bringup if bringup is not None else '?'}"
    details = [f"{online}/{len(cpus)} online"]
    details += [f"{k}={r[k]}" for k in ("apic", "delays") if k in r]
    out.append(f'<g class="panel" id="panel{panel_no}">')
    out.append(f'<title>{escape(boot.path)}</title>')
    out.append(f'<text class="ptitle" {attrs(x=px(plot_x), y=px(y0 + 16))}>{escape(title)}</text>')
    bad = f', <tspan class="bad">{failed} failed</tspan>' if failed else ""
    out.append(f'<text class="sub" {attrs(x=px(plot_x), y=px(y0 + 32))}>'
               f'{escape(", ".join(details))}{bad}</text>')

    # Vertical grid and x axis in ms.
    ticks = [i * x_step_us for i in range(int(round(x_max_us / x_step_us)) + 1)]
    axis_y = plot_y + plot_h + 4
    for t in ticks:
        x = px(x_of(t))
        out.append(f'<line class="grid" {attrs(x1=x, x2=x, y1=px(plot_y), y2=px(axis_y))}/>')
        out.append(f'<line class="axis" {attrs(x1=x, x2=x, y1=px(axis_y), y2=px(axis_y + 4))}/>')
        out.append(f'<text class="xtick" {attrs(x=x, y=px(axis_y + 16))} '
                   f'text-anchor="middle">{fmt_ms(t)}</text>')
    axis = attrs(x1=px(plot_x), x2=px(plot_x + PLOT_W), y1=px(axis_y), y2=px(axis_y))
    out.append(f'<line class="axis" {axis}/>')
    out.append(f'<text class="sub" {attrs(x=px(plot_x + PLOT_W / 2), y=px(axis_y + 34))} '
               f'text-anchor="middle">ms since the first wake</text>')

    # Row labels on a few rows only: at 255 CPUs a label per row would be a grey smear.
    every = label_every(len(cpus), row_h)
    for row, cpu in enumerate(cpus):
        if row % every == 0:
            y = px(plot_y + (row + 0.5) * row_h)
            tick = attrs(x1=px(plot_x - 4), x2=px(plot_x), y1=y, y2=y)
            out.append(f'<line class="axis" {tick}/>')
            out.append(f'<text class="ytick" {attrs(x=px(plot_x - 7), y=y)} text-anchor="end" '
                       f'dy="0.35em">{cpu.idx}</text>')
    mid = plot_y + plot_h / 2
    out.append(f'<text class="sub" text-anchor="middle" '
               f'transform="translate({px(x0 + 14)},{px(mid)}) rotate(-90)">CPU index</text>')

    bar_h = row_h * 0.8 if row_h >= 3 else row_h  # thin rows: no gap, or they turn to noise
    for row, cpu in enumerate(cpus):
        top = plot_y + row * row_h
        tip = (f"cpu {cpu.idx} apic={cpu.apic} state={cpu.state} kick_us={dash(cpu.kick)} "
               f"alive_us={dash(cpu.alive)} online_us={dash(cpu.online)}")
        out.append(f'<g class="cpu" data-idx="{cpu.idx}"><title>{escape(tip)}</title>')
        if cpu.state == "failed":
            band = attrs(x=px(plot_x), y=px(top), width=px(PLOT_W), height=px(row_h))
            out.append(f'<rect class="failband" {band}/>')
        y, h = px(top + (row_h - bar_h) / 2), px(bar_h)
        if cpu.kick is not None and cpu.alive is not None:
            bar = attrs(x=px(x_of(cpu.kick)), y=y, width=px(max((cpu.alive - cpu.kick) * scale, 0)),
                        height=h)
            out.append(f'<rect class="wake" {bar}/>')
        if cpu.alive is not None and cpu.online is not None:
            bar = attrs(x=px(x_of(cpu.alive)), y=y,
                        width=px(max((cpu.online - cpu.alive) * scale, MIN_SEG_W)), height=h)
            out.append(f'<rect class="setup" {bar}/>')
        if cpu.state == "failed":
            # Where it was last seen; with no time at all (never kicked), at the start.
            x = x_of(cpu.last_time() or 0)
            s = max(row_h * 0.5, 2.5)
            c = top + row_h / 2
            out.append(f'<path class="cross" d="M{px(x - s)},{px(c - s)}L{px(x + s)},{px(c + s)}'
                       f'M{px(x - s)},{px(c + s)}L{px(x + s)},{px(c - s)}"/>')
        out.append("</g>")

    if bringup is not None:
        x = px(x_of(bringup))
        out.append(f'<line class="end" {attrs(x1=x, x2=x, y1=px(plot_y - 4), y2=px(axis_y))}/>')
    out.append("</g>")


def render(boots, title, same_scale):
    rows_max = max(len(b.cpus) for b in boots)
    row_h = min(ROW_H_MAX, max(ROW_H_MIN, PLOT_H_TARGET / rows_max))
    panel_w = MARGIN_L + PLOT_W + MARGIN_R
    width = len(boots) * panel_w + (len(boots) - 1) * PANEL_GAP + 20
    height = FIG_TOP + PANEL_HEAD + rows_max * row_h + AXIS_H + 16
    shared = axis_limit(max(b.end_us() for b in boots)) if same_scale else None

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{px(width)}" height="{px(height)}" '
           f'viewBox="0 0 {px(width)} {px(height)}" '
           'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
           "<style>"
           f".ptitle{{font-size:14px;font-weight:bold;fill:{COLOURS['text']}}}"
           f".title{{font-size:17px;font-weight:bold;fill:{COLOURS['text']}}}"
           f".sub{{font-size:11.5px;fill:{COLOURS['muted']}}}"
           f".xtick,.ytick{{font-size:10.5px;fill:{COLOURS['axis']}}}"
           f".bad{{fill:{COLOURS['failed']};font-weight:bold}}"
           f".grid{{stroke:{COLOURS['grid']};stroke-width:1}}"
           f".axis{{stroke:{COLOURS['axis']};stroke-width:1}}"
           f".end{{stroke:{COLOURS['axis']};stroke-width:1;stroke-dasharray:3 3}}"
           f".wake{{fill:{COLOURS['wake']}}}.setup{{fill:{COLOURS['setup']}}}"
           f".failband{{fill:{COLOURS['failed_band']}}}"
           f".cross{{stroke:{COLOURS['failed']};stroke-width:1.5;fill:none}}"
           "</style>",
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text class="title" x="10" y="24">{escape(title)}</text>']
    legend = [("wake", "kick → alive (INIT/SIPI until the AP runs C++)"),
              ("setup", "alive → online (AP setup)"),
              ("failband", "failed (× where last seen)"),
              (None, "dashed: bringup_us")]
    lx = 10
    for cls, text in legend:
        if cls:
            out.append(f'<rect class="{cls}" x="{lx}" y="38" width="14" height="10"/>')
            lx += 19
        out.append(f'<text class="sub" x="{lx}" y="47">{escape(text)}</text>')
        lx += 6.4 * len(text) + 20  # rough advance of an 11.5 px sans-serif character
    for i, boot in enumerate(boots):
        x_max, x_step = shared or axis_limit(boot.end_us())
        draw_panel(out, boot, 10 + i * (panel_w + PANEL_GAP), FIG_TOP, row_h, x_max, x_step, i)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Draw smpboot example-kernel serial logs as an SVG "
                                 "boot timeline, one panel per log.")
    ap.add_argument("logs", nargs="+", metavar="LOG", help="serial log of the example kernel")
    ap.add_argument("-o", "--output", required=True, help="SVG file to write")
    ap.add_argument("--title", default="smpboot: secondary-CPU bringup", help="figure title")
    ap.add_argument("--same-scale", action="store_true",
                    help="one time axis for all panels (to compare modes)")
    args = ap.parse_args(argv)
    try:
        boots = [parse_log(p) for p in args.logs]
    except (OSError, ValueError) as e:
        print(f"smpboot_timeline: {e}", file=sys.stderr)
        return 1
    svg = render(boots, args.title, args.same_scale)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
