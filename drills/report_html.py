"""`drill report --html PATH`: one self-contained page, no script and no network.

Charts are drawn by matplotlib into inline SVG (text kept as text, so the page is small and
searchable). matplotlib (and numpy under it) is imported here only, so only `--html` pays for
it. Every piece of user text (card titles, topics) is escaped: by html.escape in the page, by
matplotlib's SVG writer in the charts; a Content-Security-Policy forbids scripts and fetches
anyway. Each chart's data marks sit in an SVG group with id `data-<chart>` (the browser test
looks for them).
"""

from __future__ import annotations

import io
import os
from datetime import date, timedelta
from html import escape

from drills import weak
from engine import report as figures

STRENGTH_TOPICS = 20  # topics drawn in the strength chart: the most asked
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
ACCENT, GOOD, BAD, MUTED = "#3b6fb6", "#2f9e6b", "#d0473c", "#e6e9ef"


def _rc():
    import matplotlib

    return matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: small, searchable, escaped
            "svg.hashsalt": "drill",  # the same report gives the same page
            "text.parse_math": False,  # a topic like "$x$" is shown as written
            "font.family": "sans-serif",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog: the SVG is inline
    head, _, rest = text.partition(" <metadata>")  # and the RDF block naming the tool
    return head + rest.partition("</metadata>\n")[2] if rest else text


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def heatmap(daily: dict[str, int], today: date) -> str | None:
    """A calendar of graded attempts per day: weeks left to right, Monday on top."""
    if not any(daily.values()):
        return None
    import numpy as np
    from matplotlib.colors import ListedColormap

    days = sorted(daily)
    first = date.fromisoformat(days[0])
    start = first - timedelta(days=first.weekday())
    weeks = (today - start).days // 7 + 1
    grid = np.full((7, weeks), np.nan)
    for d, n in daily.items():
        offset = (date.fromisoformat(d) - start).days
        grid[offset % 7, offset // 7] = n
    fig = _figure(9.5, 1.9)
    ax = fig.add_subplot()
    cmap = ListedColormap(["#ebedf0", "#b7d3ef", "#7aaee0", "#3b6fb6", "#1f4580"])
    top = max(4, int(np.nanmax(grid)))
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(grid),
        cmap=cmap,
        vmin=0,
        vmax=top,
        edgecolors="white",
        linewidth=1.5,
    )
    mesh.set_gid("data-heatmap")
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_yticks([0.5, 2.5, 4.5], ["Mon", "Wed", "Fri"])
    months = [
        (w, start + timedelta(weeks=w))
        for w in range(weeks)
        if (start + timedelta(weeks=w)).day <= 7
    ]
    ax.set_xticks([w + 0.5 for w, _ in months], [d.strftime("%b") for _, d in months])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(mesh, ax=ax, shrink=0.8, aspect=8, pad=0.01)
    bar.set_label("attempts")
    bar.outline.set_visible(False)
    return _svg(fig)


def strength(topics) -> str | None:
    shown = sorted(topics, key=lambda t: (-t.asked, t.topic))[:STRENGTH_TOPICS]
    if not shown:
        return None
    shown.sort(key=lambda t: (t.strength, -t.asked, t.topic), reverse=True)
    fig = _figure(6.5, 0.6 + 0.24 * len(shown))
    ax = fig.add_subplot()
    y = range(len(shown))
    ax.barh(y, [100] * len(shown), color=MUTED, height=0.7)
    bars = ax.barh(
        y,
        [max(100 * t.strength, 0.8) for t in shown],  # a sliver: zero is still drawn
        color=[
            GOOD if t.strength >= 0.6 else ACCENT if t.strength >= 0.3 else BAD
            for t in shown
        ],
        height=0.7,
    )
    _mark(bars, "strength")
    ax.set_yticks(list(y), [t.topic for t in shown])
    for i, t in enumerate(shown):
        ax.text(101, i, f"asked {round(100 * t.asked)}%", va="center", fontsize=7)
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("strength, % (the most asked topics; weakest at the bottom)")
    return _svg(fig)


def due_load(forecast) -> str | None:
    if not forecast:
        return None
    fig = _figure(9.5, 2.4)
    ax = fig.add_subplot()
    days = [date.fromisoformat(d) for d, _, _ in forecast]
    bars = ax.bar(days, [n for _, n, _ in forecast], color=ACCENT, width=0.8)
    _mark(bars, "forecast")
    ax2 = ax.twinx()
    ax2.plot(days, [m for _, _, m in forecast], color="#888", lw=1, marker=".")
    ax2.set_ylabel("target minutes", color="#666")
    ax2.set_ylim(bottom=0)
    ax.set_ylabel("cards due")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(0, max(1, max(n for _, n, _ in forecast)) * 1.15)
    _date_axis(ax)
    return _svg(fig)


def solve_times(solves) -> str | None:
    if not solves:
        return None
    fig = _figure(9.5, 2.6)
    ax = fig.add_subplot()
    days = [date.fromisoformat(s.day) for s in solves]
    ratios = [s.ratio for s in solves]
    dots = ax.scatter(
        days,
        ratios,
        s=18,
        c=[GOOD if r <= 1 else BAD for r in ratios],
        alpha=0.8,
        zorder=3,
    )
    dots.set_gid("data-solve")
    ax.axhline(1, color="#444", lw=1, ls="--")
    ax.text(days[0], 1.03, "target", fontsize=7, color="#444")
    trend = _running_median(ratios, 7)
    ax.plot(days, trend, color=ACCENT, lw=1.5, label="median of the last 7")
    ax.set_ylabel("time used / target")
    ax.set_ylim(0, max(2, max(ratios) * 1.1))
    ax.legend(loc="upper right", frameon=False, fontsize=7)
    _date_axis(ax)
    return _svg(fig)


def _mark(bars, name: str) -> None:
    """Ids the browser test finds: data-<chart>-<i> on each bar."""
    for i, bar in enumerate(bars):
        bar.set_gid(f"data-{name}-{i}")


def _running_median(values, n):
    from statistics import median

    return [median(values[max(0, i - n + 1) : i + 1]) for i in range(len(values))]


def _date_axis(ax):
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=10))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))


def _cell(x) -> str:
    return escape(str(x))


def _table(r) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h, _, _ in weak.COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{_cell(f(t))}</td>" for _, _, f in weak.COLUMNS)
        + "</tr>"
        for t in r.topics
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _weakest(r) -> str:
    items = []
    for t in r.topics[: figures.WEAKEST]:
        card = r.titles.get(t.weakest_card, t.weakest_card)
        items.append(
            f"<li><b>{escape(t.topic)}</b>: weakness {t.weakness:.0f}/100 (asked in "
            f"{round(100 * t.asked)}% of interviews, strength {round(100 * t.strength)}%). "
            f"Weakest card: {escape(card)}. <code>{escape(weak.command(t))}</code></li>"
        )
    return f"<ol class='weakest'>{''.join(items)}</ol>"


def _cards(r) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.titles[c.slug])}</td><td>{round(100 * c.strength)}%</td>"
        f"<td>{c.weakness:.0f}</td><td>{escape(c.due or 'new')}</td>"
        f"<td><code>drill start {escape(c.slug)}</code></td></tr>"
        for c in r.cards
    )
    head = "<tr><th>card</th><th>strength</th><th>weak</th><th>due</th><th>drill it</th></tr>"
    return f"<table class='cards'><thead>{head}</thead><tbody>{rows}</tbody></table>"


def _interview(r) -> str:
    i = r.interview
    if not i:
        return ""
    titles = [escape(r.titles.get(s, s)) for s in i.unpractised[:12]]
    more = f" and {len(i.unpractised) - 12} more" if len(i.unpractised) > 12 else ""
    listed = f"<p>Still to practise: {', '.join(titles)}{more}.</p>" if titles else ""
    return (
        f"<section class='interview'><h2>Interview date</h2>"
        f"<p>{escape(weak.interview_line(i))}</p>{listed}</section>"
    )


def _chart(name: str, title: str, note: str, svg: str | None, empty: str) -> str:
    inner = svg if svg else f"<p class='empty'>{escape(empty)}</p>"
    return (
        f"<figure class='chart' id='chart-{name}' data-has-data='{int(bool(svg))}'>"
        f"<figcaption><h2>{escape(title)}</h2><p>{escape(note)}</p></figcaption>"
        f"{inner}</figure>"
    )


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;
max-width:1000px;padding:0 16px;color:#1d2433}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:0 0 2px}
.summary{color:#555;margin:0 0 16px}
figure{margin:20px 0;padding:12px 16px;border:1px solid #e3e6ec;border-radius:8px}
figcaption p{margin:0 0 8px;color:#666;font-size:12px}
svg{max-width:100%;height:auto}
.weakest li{margin:4px 0}code{background:#f1f3f6;padding:1px 5px;border-radius:4px;white-space:nowrap}
h2{margin-top:20px}
.interview{background:#fff7e6;border:1px solid #f1d9a6;border-radius:8px;padding:10px 16px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.empty{color:#999;font-style:italic}
"""


def page(r) -> str:
    with _rc():
        charts = [
            _chart(
                "heatmap",
                "Daily practice",
                "Graded attempts per study day over the last year.",
                heatmap(r.daily, r.day),
                "No practice in the last year.",
            ),
            _chart(
                "strength",
                "Strength per topic",
                "Frequency-weighted strength of each topic's cards (recent quality, "
                "fading while overdue).",
                strength(r.topics),
                "The bank has no topics.",
            ),
            _chart(
                "forecast",
                "Due load, next 30 days",
                "Cards due per day as the schedule stands (overdue cards count today); "
                "the line is their target minutes.",
                due_load(r.forecast),
                "Nothing scheduled.",
            ),
            _chart(
                "solve",
                "Solve time against target",
                "Each passing attempt's time over the card's target (below 1 is within "
                "target), with the running median.",
                solve_times(r.solves),
                "No passing attempt yet.",
            ),
        ]
    s = r.summary
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>drill report {r.day}</title><style>{STYLE}</style></head><body>"
        f"<h1>Weak-topic report, {r.day}</h1>"
        f"<p class='summary'>{s['practised']} of {s['cards']} cards practised, "
        f"{s['attempts']} graded attempts on {s['days_practised']} days; "
        f"{s['overdue']} overdue.</p>"
        f"{_interview(r)}<h2>Weakest topics</h2>{_weakest(r)}"
        f"{''.join(charts)}"
        f"<h2>Weakest cards</h2>{_cards(r)}"
        f"<h2>Every topic</h2>{_table(r)}"
        "<p class='summary'>weak = asked &times; (1 &minus; strength), 0&ndash;100. "
        "Made by <code>drill report --html</code>.</p></body></html>\n"
    )


def write(r, path) -> int:
    """Write the page atomically; returns its size in bytes."""
    text = page(r).encode("utf-8")
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(text)
    os.replace(tmp, path)
    return len(text)
