"""The custom search attributes operators filter tickets by: ids and enums only, never names.

The one exception is `Owner`: an agent's handle (the id pattern: no spaces, no @), never an
e-mail address or a display name. The ticket's status is `TicketStatus`, not `Status`: a custom
`Status` takes the place of the execution status in the Temporal UI's list.
"""

from temporalio.common import SearchAttributeKey

TICKET_ID = SearchAttributeKey.for_keyword("TicketId")
CUSTOMER = SearchAttributeKey.for_keyword("Customer")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
TICKET_STATUS = SearchAttributeKey.for_keyword("TicketStatus")
OWNER = SearchAttributeKey.for_keyword("Owner")
SLA_STATE = SearchAttributeKey.for_keyword("SlaState")
NEXT_DUE_AT = SearchAttributeKey.for_datetime("NextDueAt")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
COMMANDER_ASSIGNED = SearchAttributeKey.for_bool("CommanderAssigned")
SUPPORT_TIER = SearchAttributeKey.for_keyword("SupportTier")

ALL = (TICKET_ID, CUSTOMER, SEVERITY, TICKET_STATUS, OWNER, SLA_STATE, NEXT_DUE_AT, ESCALATION_LEVEL, COMMANDER_ASSIGNED,
       SUPPORT_TIER)
