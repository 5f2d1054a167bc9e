"""The wire contract other backends rely on (documented in docs/api.md): keep these stable."""

TASK_QUEUE = "escalator-tickets"
WORKFLOW_TYPE = "TicketWorkflow"

UPDATE_ACKNOWLEDGE = "acknowledge"
UPDATE_RESPOND = "respond"
UPDATE_SET_STATUS = "set_status"
UPDATE_CUSTOMER_MESSAGE = "customer_message"
UPDATE_RESOLVE = "resolve"
UPDATE_REOPEN = "reopen"
UPDATE_RECORD_CSAT = "record_csat"
UPDATE_CHANGE_SEVERITY = "change_severity"
SIGNAL_CUSTOMER_MESSAGE = "customer_message_received"
QUERY_STATE = "state"

ACTIVITY_SNAPSHOT_POLICY = "snapshot_policy"
ACTIVITY_NOTIFY = "notify"
ACTIVITY_RECORD_EVENTS = "record_ticket_events"
