"""The custom search attributes operators filter tickets by: ids and enums only, never names."""

from temporalio.common import SearchAttributeKey

TICKET_ID = SearchAttributeKey.for_keyword("TicketId")
CUSTOMER = SearchAttributeKey.for_keyword("Customer")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
STATUS = SearchAttributeKey.for_keyword("Status")
SLA_STATE = SearchAttributeKey.for_keyword("SlaState")
NEXT_DUE_AT = SearchAttributeKey.for_datetime("NextDueAt")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
COMMANDER_ASSIGNED = SearchAttributeKey.for_bool("CommanderAssigned")
SUPPORT_TIER = SearchAttributeKey.for_keyword("SupportTier")

ALL = (TICKET_ID, CUSTOMER, SEVERITY, STATUS, SLA_STATE, NEXT_DUE_AT, ESCALATION_LEVEL, COMMANDER_ASSIGNED, SUPPORT_TIER)
