"""Reports over the ticket store: the aggregates, their rendering, the scheduled reviews (docs/reports.md)."""
