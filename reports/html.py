"""A report as one self-contained HTML page: tables, goals, and four charts as inline SVG.

The charts are drawn by matplotlib (the Agg/SVG backends, no display) and embedded in the page,
so it opens offline and fetches nothing: breach rate per week by severity, the first response
distribution per severity against its target, the MTTR trend, and CSAT and reopen rate per week.
"""

from __future__ import annotations

import html
import io

import matplotlib

matplotlib.use("svg")  # never a display: the worker and CI have none
import matplotlib.pyplot as plt  # noqa: E402

from reports.queries import FRT_BUCKETS  # noqa: E402
from reports.render import columns, duration, goal_actual, percent  # noqa: E402
from reports.report import Report  # noqa: E402

SEVERITY_COLOURS = {"sev1": "#c0392b", "sev2": "#e67e22", "sev3": "#2e86c1", "sev4": "#7f8c8d"}
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
.missed{color:#b00;font-weight:bold}.met{color:#070}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:1em}
figure{margin:0}figcaption{font-weight:bold}"""


def _svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})  # the same data gives the same page
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg"):]  # the XML prologue and doctype do not belong inside HTML


def _weeks(report: Report) -> list[str]:
    return sorted({g.key["week"] for g in report.weekly})


def _by_week(report: Report, severity: str, value) -> list[float | None]:
    found = {g.key["week"]: value(g) for g in report.weekly if g.key["severity"] == severity}
    return [found.get(week) for week in _weeks(report)]


def _line_chart(report: Report, title: str, ylabel: str, value, scale: float = 1.0) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    weeks = _weeks(report)
    drawn = False
    for severity, colour in SEVERITY_COLOURS.items():
        ys = [None if v is None else v * scale for v in _by_week(report, severity, value)]
        if any(y is not None for y in ys):
            ax.plot(weeks, [float("nan") if y is None else y for y in ys], marker="o", color=colour, label=severity)
            drawn = True
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("week (Monday)")
    ax.tick_params(axis="x", labelrotation=30)
    if drawn:
        ax.legend(fontsize="small")
    else:  # e.g. no ticket was rated: say so rather than draw empty axes
        ax.text(0.5, 0.5, "no data in the period", transform=ax.transAxes, ha="center", va="center", color="#777")
    ax.grid(alpha=.3)
    return _svg(fig)


def _frt_chart(report: Report) -> str:
    labels = [f"<{e}m" if e < 60 else f"<{e // 60}h" for e in FRT_BUCKETS] + [f">{FRT_BUCKETS[-1] // 60}h"]
    severities = [s for s in SEVERITY_COLOURS if s in report.frt_histogram]
    fig, axes = plt.subplots(1, max(1, len(severities)), figsize=(3.2 * max(1, len(severities)), 3.4), sharey=False, squeeze=False)
    for ax, severity in zip(axes[0], severities):
        counts = report.frt_histogram[severity]
        ax.bar(range(len(counts)), counts, color=SEVERITY_COLOURS[severity])
        target = report.frt_targets.get(severity)
        if target is not None:  # where the target falls among the buckets, as a fractional bucket index
            minutes, edges, position = target / 60, (0, *FRT_BUCKETS), len(FRT_BUCKETS)
            for i in range(len(FRT_BUCKETS)):
                if minutes <= edges[i + 1]:
                    position = i + (minutes - edges[i]) / (edges[i + 1] - edges[i])
                    break
            ax.axvline(position - .5, color="black", linestyle="--", label=f"target {duration(target)}")
            ax.legend(fontsize="x-small")
        ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize="x-small")
        ax.set_title(severity)
    axes[0][0].set_ylabel("tickets")
    fig.suptitle("First response time (elapsed) per severity")
    return _svg(fig)


def render(report: Report) -> str:
    """The whole page."""
    e = html.escape
    shown = report.groups + ([report.overall] if report.by and len(report.groups) > 1 else [])  # and a total row
    groups = [columns(g) for g in shown]
    heads = ["group", "tickets", "FRT median", "FRT p90", "FRT mean", "FRT business median", "TTR median", "TTR p90", "MTTR",
             "FR breach", "resolution breach", "still running", "CSAT (rated)", "reopen", "auto-solved", "review on time", "RCA on time"]
    rows = []
    for g, c in zip(shown, groups):
        cells = [" / ".join(g.key.values()) or "all tickets", str(g.tickets), duration(g.first_response.median), duration(g.first_response.p90),
                 duration(g.first_response.mean), duration(g.first_response_business.median), duration(g.resolution.median),
                 duration(g.resolution.p90), duration(g.resolution.mean), percent(c["frt_breach_rate"]), percent(c["ttr_breach_rate"]),
                 str(g.resolution_clock.running), f"{percent(g.csat)} ({g.rated})", percent(g.reopen_rate), percent(g.auto_solved_share),
                 percent(g.review_on_time_rate), percent(g.rca_on_time_rate)]
        rows.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in cells) + "</tr>")
    goals = "".join(
        f"<tr><td>{e(gr.goal)}</td><td>{e(gr.target)}</td><td>{e(goal_actual(gr))}</td>"
        f"<td class=\"{'missed' if gr.met is False else 'met'}\">{'no data' if gr.met is None else 'met' if gr.met else 'MISSED'}</td></tr>"
        for gr in report.goals)
    charts = ""
    if report.weekly:
        charts = "".join(f"<figure><figcaption>{e(title)}</figcaption>{svg}</figure>" for title, svg in (
            ("Breach rate per week (first response)", _line_chart(report, "First response breach rate", "% breached",
                                                                  lambda g: g.first_response_clock.breach_rate, 100)),
            ("First response distribution against target", _frt_chart(report)),
            ("MTTR trend", _line_chart(report, "MTTR (mean time to resolve)", "hours", lambda g: g.resolution.mean, 1 / 3600)),
            ("CSAT and reopen rate", _line_chart(report, "CSAT (satisfied of rated)", "%", lambda g: g.csat, 100)
             + _line_chart(report, "Reopen rate", "%", lambda g: g.reopen_rate, 100)),
        ))
    title = f"Support report {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}"
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{e(title)}</h1><p>Tickets opened in the period (UTC); policy {e(report.policy)}; "
            f"{report.overall.tickets} tickets; post-incident items owed by {report.as_of:%Y-%m-%d %H:%M} UTC.</p>"
            f"<h2>Goals</h2><table id=\"goals\"><tr><th>goal</th><th>target</th><th>actual</th><th></th></tr>{goals}</table>"
            f"<h2>Figures</h2><table id=\"figures\"><tr>{''.join(f'<th>{e(h)}</th>' for h in heads)}</tr>{''.join(rows)}</table>"
            f"<div class=\"charts\">{charts}</div>"
            "<p>Definitions: docs/reports.md. Durations are elapsed unless marked business (the ticket's own calendar, pauses left out).</p>"
            "</body></html>\n")
