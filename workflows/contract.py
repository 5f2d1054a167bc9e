"""The wire contract other backends rely on (documented in docs/api.md): keep these stable."""

TASK_QUEUE = "escalator-tickets"
WORKFLOW_TYPE = "TicketWorkflow"
UPDATE_ACKNOWLEDGE = "acknowledge"
UPDATE_RESOLVE = "resolve"
QUERY_STATE = "state"
ACTIVITY_SNAPSHOT_POLICY = "snapshot_policy"
ACTIVITY_NOTIFY = "notify"
