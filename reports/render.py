"""A report as a table (for a terminal), CSV (one row per group) or JSON (everything)."""

from __future__ import annotations

import csv
import io
import json

from reports.queries import KINDS
from reports.report import Report
from sla.report_metrics import GroupMetrics


def duration(seconds: float | None) -> str:
    """'1h42m', '3d04h', '12m', or '-' when there is no figure."""
    if seconds is None:
        return "-"
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{mins:02d}m" if hours else f"{mins}m"


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f}%"


def _label(group: GroupMetrics) -> str:
    return " / ".join(group.key.values()) or "all tickets"


def columns(g: GroupMetrics) -> dict[str, str | int | float | None]:
    """The flat figures of a group, as the CSV writes them (seconds and fractions, unrounded)."""
    out: dict[str, str | int | float | None] = dict(g.key)
    out["tickets"] = g.tickets
    for name, dist in (("frt", g.first_response), ("frt_business", g.first_response_business),
                       ("ttr", g.resolution), ("ttr_business", g.resolution_business)):
        out |= {f"{name}_median_s": dist.median, f"{name}_p90_s": dist.p90, f"{name}_mean_s": dist.mean, f"{name}_count": dist.count}
    out |= {"frt_paused_mean_s": g.first_response_paused_mean, "ttr_paused_mean_s": g.resolution_paused_mean,
            "frt_met": g.first_response_clock.met, "frt_breached": g.first_response_clock.breached,
            "frt_running": g.first_response_clock.running, "frt_breach_rate": g.first_response_clock.breach_rate,
            "ttr_met": g.resolution_clock.met, "ttr_breached": g.resolution_clock.breached,
            "ttr_running": g.resolution_clock.running, "ttr_breach_rate": g.resolution_clock.breach_rate,
            "csat": g.csat, "rated": g.rated, "solved": g.solved, "reopen_rate": g.reopen_rate,
            "auto_solved_share": g.auto_solved_share}
    out |= {f"escalations_{k}_per_ticket": g.escalations_per_ticket(k) for k in KINDS}
    out |= {"review_on_time_rate": g.review_on_time_rate, "reviews_due": g.reviews_due,
            "rca_on_time_rate": g.rca_on_time_rate, "rcas_due": g.rcas_due}
    return out


def as_csv(report: Report) -> str:
    # A customer named "=HYPERLINK(...)" must stay text in a spreadsheet (OWASP's CSV injection advice).
    rows = [{k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v) for k, v in columns(g).items()}
            for g in report.groups]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["tickets"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def as_json(report: Report) -> str:
    body = report.model_dump(mode="json")
    body["groups"] = [columns(g) | {"key": g.key} for g in report.groups]
    body["overall"] = columns(report.overall)
    return json.dumps(body, indent=2, sort_keys=False)


def goal_actual(goal) -> str:
    return "-" if goal.actual is None else (duration(goal.actual) if goal.unit == "s" else f"{goal.actual:.1f}%")


def goal_line(goal) -> str:
    actual = goal_actual(goal)
    verdict = "no data" if goal.met is None else "met" if goal.met else "MISSED"
    return f"{goal.goal:<36} {goal.target:<16} {actual:>10}  {verdict}"


def as_table(report: Report) -> str:
    """The report for a terminal: one line per group, the goals, and what could not be measured."""
    head = (f"{'group':<28}{'tickets':>8}{'FRT med':>9}{'p90':>8}{'mean':>8}{'biz med':>9}{'TTR med':>9}{'p90':>8}"
            f"{'MTTR':>8}{'FR brch':>8}{'res brch':>9}{'run':>5}{'CSAT':>7}{'(n)':>6}{'reopen':>8}{'auto':>7}{'esc/t':>6}{'rev ok':>8}{'RCA ok':>8}")
    lines = [f"Report {report.period} (tickets opened in the period, UTC), policy {report.policy}",
             "", head, "-" * len(head)]
    totals = [report.overall] if report.by and len(report.groups) > 1 else []  # a total line under the groups
    for g in report.groups + totals:
        if g is report.overall and totals:
            lines.append("-" * len(head))
        esc = sum(g.escalations.values()) / g.tickets if g.tickets else 0
        lines.append(
            f"{_label(g)[:27]:<28}{g.tickets:>8}{duration(g.first_response.median):>9}{duration(g.first_response.p90):>8}"
            f"{duration(g.first_response.mean):>8}{duration(g.first_response_business.median):>9}{duration(g.resolution.median):>9}"
            f"{duration(g.resolution.p90):>8}{duration(g.resolution.mean):>8}{percent(g.first_response_clock.breach_rate):>8}"
            f"{percent(g.resolution_clock.breach_rate):>9}{g.resolution_clock.running:>5}{percent(g.csat):>7}{g.rated:>6}"
            f"{percent(g.reopen_rate):>8}{percent(g.auto_solved_share):>7}{esc:>6.2f}{percent(g.review_on_time_rate):>8}"
            f"{percent(g.rca_on_time_rate):>8}")
    o = report.overall
    if not o.tickets:
        lines.append("no tickets were opened in this period")
    if o.other_breaches:
        lines.append("Other clocks, tickets breached: " + ", ".join(f"{clock.replace('_', ' ')} {n}" for clock, n in sorted(o.other_breaches.items())))
    lines += ["", "Goals (policy [goals]):"] + ["  " + goal_line(goal) for goal in report.goals]
    unmeasured = o.first_response_unmeasured + o.resolution_unmeasured
    if unmeasured:
        lines.append(f"\n{unmeasured} clock(s) were met before business time was measured (older tickets): "
                     "their elapsed time counts, their business time does not.")
    if o.first_response_paused_mean or o.resolution_paused_mean:
        lines.append(f"Paused (mean, not in business time): first response {duration(o.first_response_paused_mean)}, "
                     f"resolution {duration(o.resolution_paused_mean)}.")
    return "\n".join(lines) + "\n"
