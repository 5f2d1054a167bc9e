"""A report as one self-contained HTML page: tables, goals, and four charts as inline SVG.

The charts are drawn by matplotlib (the Agg/SVG backends, no display) and embedded in the page,
so it opens offline and fetches nothing: breach rate per week by severity, the first response
distribution per severity against its target, the MTTR trend, and CSAT and reopen rate per week.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("svg")  # never a display: the worker and CI have none
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, ScalarFormatter  # noqa: E402

from reports.queries import FRT_BUCKETS  # noqa: E402
from reports.render import columns, duration, goal_actual, percent  # noqa: E402
from reports.report import Report  # noqa: E402

SEVERITY_COLOURS = {"sev1": "#c0392b", "sev2": "#e67e22", "sev3": "#2e86c1", "sev4": "#7f8c8d"}
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:100%}table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
.scroll{overflow-x:auto}.missed{color:#b00;font-weight:bold}.met{color:#070}.nodata{color:#777}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:1em}
figure{margin:0;overflow-x:auto}figcaption{font-weight:bold}svg{max-width:100%;height:auto}.note{color:#555;font-size:13px}"""


def _svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})  # the same data gives the same page
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg"):]  # the XML prologue and doctype do not belong inside HTML


def _weeks(report: Report) -> list[str]:
    return sorted({g.key["week"] for g in report.weekly})


def _week_labels(report: Report) -> list[str]:
    """Each week's Monday, with '*' when the period covers only part of it."""
    labels = []
    for week in _weeks(report):
        monday = datetime.fromisoformat(week).replace(tzinfo=UTC)
        partial = monday < report.start or monday + timedelta(days=7) > report.end
        labels.append(week + ("*" if partial else ""))
    return labels


def _by_week(report: Report, severity: str, value) -> list[float | None]:
    found = {g.key["week"]: value(g) for g in report.weekly if g.key["severity"] == severity}
    return [found.get(week) for week in _weeks(report)]


def _line_chart(report: Report, title: str, ylabel: str, value, scale: float = 1.0, goal: tuple[str, float] | None = None,
                log: bool = False) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    labels = _week_labels(report)
    drawn = False
    for severity, colour in SEVERITY_COLOURS.items():
        ys = [None if v is None else v * scale for v in _by_week(report, severity, value)]
        if any(y is not None for y in ys):
            ax.plot(labels, [float("nan") if y is None else y for y in ys], marker="o", color=colour, label=severity)
            drawn = True
    if goal is not None and drawn:
        ax.axhline(goal[1], color="black", linestyle="--", linewidth=1, label=goal[0])
    if log and drawn:
        ax.set_yscale("log")  # Sev-1 hours and Sev-4 days on one chart
        ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("week (Monday; * only part of it in the period)")
    ax.tick_params(axis="x", labelrotation=30)
    if drawn:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:  # e.g. no ticket was rated: say so rather than draw empty axes
        ax.text(0.5, 0.5, "no data in the period", transform=ax.transAxes, ha="center", va="center", color="#777")
    ax.grid(alpha=.3)
    return _svg(fig)


def _frt_chart(report: Report) -> str:
    labels = [f"<{e}m" if e < 60 else f"<{e // 60}h" for e in FRT_BUCKETS] + [f">{FRT_BUCKETS[-1] // 60}h"]
    severities = [s for s in SEVERITY_COLOURS if s in report.frt_histogram]
    fig, axes = plt.subplots(2, 2, figsize=(6.4, 5.6), squeeze=False)  # a panel per severity, readable in half a page
    for ax in axes.flat[len(severities):]:
        ax.set_visible(False)
    for ax, severity in zip(axes.flat, severities):
        counts = report.frt_histogram[severity]
        ax.bar(range(len(counts)), counts, color=SEVERITY_COLOURS[severity])
        target = report.frt_targets.get(severity)
        if target is not None:  # where the target falls among the buckets, as a fractional bucket index
            minutes, edges, position = target / 60, (0, *FRT_BUCKETS), len(FRT_BUCKETS)
            for i in range(len(FRT_BUCKETS)):
                if minutes <= edges[i + 1]:
                    position = i + (minutes - edges[i]) / (edges[i + 1] - edges[i])
                    break
            ax.axvline(position - .5, color="black", linestyle="--", label=f"target {report.frt_target_labels.get(severity, '')}")
            ax.legend(fontsize="x-small", loc="upper right")
        ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize="small")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(severity)
        ax.set_ylabel("tickets")
    fig.tight_layout()
    return _svg(fig)


def render(report: Report) -> str:
    """The whole page."""
    e = html.escape
    shown = report.groups + ([report.overall] if report.by and len(report.groups) > 1 else [])  # and a total row
    groups = [columns(g) for g in shown]
    heads = ["group", "tickets", "FRT median", "FRT p90", "FRT mean", "FRT business median", "TTR median", "TTR p90", "MTTR",
             "TTR business median", "FR breach", "resolution breach", "still running (FR / res.)", "CSAT (rated)", "reopen",
             "auto-solved", "escalations per ticket", "review on time", "RCA on time"]
    rows = []
    for g, c in zip(shown, groups):
        cells = [" / ".join(g.key.values()) or "all tickets", str(g.tickets), duration(g.first_response.median), duration(g.first_response.p90),
                 duration(g.first_response.mean), duration(g.first_response_business.median), duration(g.resolution.median),
                 duration(g.resolution.p90), duration(g.resolution.mean), duration(g.resolution_business.median),
                 percent(c["frt_breach_rate"]), percent(c["ttr_breach_rate"]),
                 f"{g.first_response_clock.running} / {g.resolution_clock.running}", f"{percent(g.csat)} ({g.rated})",
                 percent(g.reopen_rate), percent(g.auto_solved_share),
                 f"{sum(g.escalations.values()) / g.tickets:.2f}" if g.tickets else "-",
                 percent(g.review_on_time_rate), percent(g.rca_on_time_rate)]
        rows.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in cells) + "</tr>")
    goals = "".join(
        f"<tr><td>{e(gr.goal)}</td><td>{e(gr.target)}</td><td>{e(goal_actual(gr))}</td>"
        f"<td class=\"{'nodata' if gr.met is None else 'met' if gr.met else 'missed'}\">{'no data' if gr.met is None else 'met' if gr.met else 'MISSED'}</td></tr>"
        for gr in report.goals)
    charts = ""
    if report.weekly:
        targets = report.goal_targets
        charts = "".join(f"<figure><figcaption>{e(title)}</figcaption>{svg}</figure>" for title, svg in (
            ("Breach rate per week (first response)", _line_chart(report, "First response breach rate", "% breached",
                                                                  lambda g: g.first_response_clock.breach_rate, 100)),
            ("First response as its clock counted (business time of its calendar; Sev-1 24x7) against the severity's target "
             "(placed within its bucket); plans may set shorter ones", _frt_chart(report)),
            ("MTTR trend", _line_chart(report, "MTTR (mean time to resolve), log scale", "hours", lambda g: g.resolution.mean, 1 / 3600,
                                       goal=("Sev-1 goal", targets["mttr_sev1_hours"]) if "mttr_sev1_hours" in targets else None, log=True)),
            ("CSAT and reopen rate", _line_chart(report, "CSAT (satisfied of rated)", "%", lambda g: g.csat, 100,
                                                 goal=("goal", targets["csat_percent"]) if "csat_percent" in targets else None)
             + _line_chart(report, "Reopen rate", "%", lambda g: g.reopen_rate, 100,
                           goal=("goal", targets["reopen_percent"]) if "reopen_percent" in targets else None)),
        ))
    o = report.overall
    notes = []
    if not o.tickets:
        notes.append("No tickets were opened in this period.")
    if o.first_response_unmeasured + o.resolution_unmeasured:
        notes.append(f"{o.first_response_unmeasured + o.resolution_unmeasured} clock(s) were met before business time was measured "
                     "(older tickets): their elapsed time counts, their business time does not.")
    if o.first_response_paused_mean or o.resolution_paused_mean:
        notes.append(f"Paused (mean, not in business time): first response {duration(o.first_response_paused_mean)}, "
                     f"resolution {duration(o.resolution_paused_mean)}.")
    if o.other_breaches:
        notes.append("Other clocks, tickets breached: " + ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in sorted(o.other_breaches.items())) + ".")
    if any(o.escalations.values()):
        notes.append("Escalations per ticket by kind: " + ", ".join(f"{k} {v / o.tickets:.2f}" for k, v in o.escalations.items()) + ".")
    title = f"Support report {report.period}"
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{e(title)}</h1><p>Tickets opened in the period (UTC); policy {e(report.policy)}; "
            f"{o.tickets} tickets; post-incident items owed by {report.as_of:%Y-%m-%d %H:%M} UTC.</p>"
            f"<h2>Goals</h2><table id=\"goals\"><tr><th>goal</th><th>target</th><th>actual</th><th></th></tr>{goals}</table>"
            f"<h2>Figures</h2><div class=\"scroll\"><table id=\"figures\"><tr>{''.join(f'<th>{e(h)}</th>' for h in heads)}</tr>"
            f"{''.join(rows)}</table></div>"
            + "".join(f"<p class=\"note\">{e(n)}</p>" for n in notes) +
            f"<div class=\"charts\">{charts}</div>"
            "<p class=\"note\">Definitions: docs/reports.md. Durations are elapsed unless marked business (the ticket's own calendar, pauses left out).</p>"
            "</body></html>\n")
