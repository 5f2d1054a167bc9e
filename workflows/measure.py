"""What a ticket counts for operators: obligations acted on, breaches, how late, delivery retries.

Emitted through the workflow's metric meter (`workflow.metric_meter()`), which the SDK skips
while replaying: a ticket replayed after a restart does not count its past again. The worker
exports them with the SDK's own metrics (worker/health.py); names and labels are listed in
docs/operations.md and charted by deploy/grafana/escalator.json.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

ACTED = "escalator_obligations_acted"  # exported with the _total suffix
BREACHES = "escalator_breaches"
LAG = "escalator_due_to_acted_lag_seconds"
RETRIES = "escalator_delivery_retries"
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class TicketMeasures:
    """Mixed into TicketWorkflow: `_measure_acted` from `_record`, `_measure_retry` from the outbox."""

    def _measure_acted(self, kind: str, clock: str | None, due: datetime, digest: bool) -> None:
        meter = workflow.metric_meter()
        severity = self._state.severity.value
        # An obligation sent inside an overdue digest counts as acted too: it was acted on, late.
        meter.create_counter(ACTED, "obligations acted on (digests count each obligation)").add(
            1, {"kind": kind, "severity": severity, "digest": str(digest).lower()})
        if kind == "breach":
            meter.create_counter(BREACHES, "SLA breaches by clock").add(1, {"clock": clock or "-", "severity": severity})
        late = max(0.0, (workflow.now() - due).total_seconds())
        meter.create_histogram_float(LAG, "from an obligation's due instant to acting on it", "s").record(late, {"kind": kind})

    def _measure_retry(self, kind: str) -> None:
        workflow.metric_meter().create_counter(RETRIES, "notification attempts after the first (the receiver refused or was down)").add(
            1, {"kind": kind})
