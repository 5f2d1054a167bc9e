"""A small Python client for backend systems that open and drive tickets."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from temporalio.client import (
    Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeWorkflowExecutionRequest
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from connection.client import CannotConnect, Settings as TemporalSettings, connect
from connection.codec import ENCODING, NO_KEYS
from connection.client import load as load_temporal
from sla.messages import (
    Acknowledge, AcknowledgePage, AddAction, ChangePolicy, CompleteObligation, Csat, CustomerMessage, DesignateCommander,
    EscalateToManagement, HandOff, JumpToStep, LogTime, PostStatusUpdate, RecordRca, RecordReview, Reopen, Resolve, Respond,
    QueuedMessage, SeverityPlanChange, StatusChange, TicketMessage, TicketView,
)
from sla.event_time import MAX_AHEAD
from sla.policy import PolicySnapshot
from sla.refusals import explain
from sla.ticket import TicketOpened, TicketState
from workflows import contract
from workflows import search_attributes as sa
from workflows.ticket import TicketWorkflow


class TicketError(Exception):
    """A failure worth one line to a person: unreachable server, unknown ticket, refused update."""


class NoWorker(TicketError):
    """No worker answered a query in time: only the server's and the store's view is to be had."""


class UnknownTicket(TicketError):
    """The server has no ticket of that id."""


class TicketClosed(TicketError):
    """The ticket is closed (or ended otherwise): a new message needs a follow-up ticket."""


class Refused(TicketError):
    """The ticket refused the message (its validator said why); nothing was written."""


class OpenConflict(TicketError):
    """The id is already open with other values."""


class BadOpening(TicketError):
    """A ticket that cannot be opened as given (opened_at ahead, `follows` naming no closed ticket)."""


class Unavailable(TicketError):
    """Temporal cannot be reached."""


@dataclass(frozen=True)
class Opened:
    ticket_id: str
    run_id: str | None
    created: bool
    ui_url: str


DEFAULT_WAIT = 7.0
"""Seconds a command waits for a worker before it is queued instead (the CLI's --wait): with the
process's start and the queueing, a command answers within 10 s."""


@dataclass(frozen=True)
class Sent:
    """An update sent: applied (`state` is the ticket's new state) or queued (`state` is None)."""

    request: TicketMessage
    state: TicketState | None
    why: str | None = None  # why it was queued

    @property
    def queued(self) -> bool:
        return self.state is None


ENDED_UNCLOSED = (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT,
                  WorkflowExecutionStatus.CANCELED)
"""Workflow statuses of a ticket that ended without its own rules closing it."""

COMPARED_ON_REOPEN = ("customer", "title", "severity", "plan", "category", "follows")
"""Opening a running id again must not carry other values of these (channel and opened_at too, when given)."""


class TicketClient:
    """Opens tickets (idempotently, by ticket id) and sends them updates and queries."""

    def __init__(self, client: Client, ui_url: str = "http://localhost:8233", task_queue: str = contract.TASK_QUEUE) -> None:
        self.client = client
        self.ui_url = ui_url.rstrip("/")
        self.task_queue = task_queue

    @classmethod
    async def connect(cls, temporal: TemporalSettings | None = None, **kwargs) -> "TicketClient":
        """Connect as the `temporal` CLI would (flags, TEMPORAL_* variables, the profile; the codec
        keys when set): `connection.client.load(...)` makes `temporal`, the default reads only the
        environment and the profile. Raises TicketError with why it failed."""
        try:
            client = await connect(temporal or load_temporal())
        except CannotConnect as exc:
            raise TicketError(str(exc)) from None
        return cls(client, **kwargs)

    def link(self, ticket_id: str) -> str:
        return f"{self.ui_url}/namespaces/{quote(self.client.namespace)}/workflows/{quote(ticket_id, safe='')}"

    async def open(self, ticket: TicketOpened, compare: tuple[str, ...] = COMPARED_ON_REOPEN) -> Opened:
        """Start the ticket's workflow; a ticket already running is returned as it is, not started twice.

        Raises TicketError, before anything is started, for an `opened_at` more than 2 minutes
        ahead of this machine's clock and for `follows` naming no ticket, or one still open; and
        when the id is running with other values of the `compare` fields (named in the message).
        An id whose start failed (bad input) may be opened again; a closed one may not.
        """
        if ticket.opened_at > datetime.now(UTC) + MAX_AHEAD:
            raise BadOpening(f"opened_at: {ticket.opened_at.isoformat()} is in the future (more than 2 minutes ahead of now)")
        if ticket.follows is not None:
            await self._check_follows(ticket.follows)
        try:
            _, before = await self._execution(ticket.ticket_id)
        except UnknownTicket:
            before = None  # a new id
        if before is not None and before not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.FAILED):
            # Only a refused start frees its id; a closed, terminated or timed-out ticket keeps it.
            raise TicketClosed(f"ticket {ticket.ticket_id} exists and is {before.name.lower()}: open a follow-up ticket with a new id (--follows {ticket.ticket_id})")
        try:
            handle = await self.client.start_workflow(
                TicketWorkflow.run, ticket, id=ticket.ticket_id, task_queue=self.task_queue,
                # A closed ticket stays closed (a new message needs a follow-up ticket); one whose
                # start was refused for bad input may be opened again with good input.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                static_summary=f"{ticket.customer} · {ticket.severity.label} · {ticket.title}",
                # Listed and filterable from the start, even before (or without) a worker's first task.
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.TICKET_ID, ticket.ticket_id), SearchAttributePair(sa.CUSTOMER, ticket.customer),
                    SearchAttributePair(sa.SEVERITY, ticket.severity.value), SearchAttributePair(sa.TICKET_STATUS, "open"),
                ]),
            )
            return Opened(ticket.ticket_id, handle.result_run_id, True, self.link(ticket.ticket_id))
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as exc:
            raise _rpc_error(exc, ticket.ticket_id) from None
        run_id, status = await self._execution(ticket.ticket_id)
        if status != WorkflowExecutionStatus.RUNNING:
            raise TicketClosed(f"ticket {ticket.ticket_id} exists and is {status.name.lower()}: open a follow-up ticket with a new id (--follows {ticket.ticket_id})")
        started = await self._started_with(ticket.ticket_id)
        given = ticket.model_dump(mode="json")
        differ = [f for f in compare if started.get(f) != given.get(f)]
        if differ:
            raise OpenConflict(f"ticket {ticket.ticket_id} is already open with other values: "
                              + "; ".join(f"{f} is {_shown(started.get(f))}, not {_shown(given.get(f))}" for f in differ))
        return Opened(ticket.ticket_id, run_id, False, self.link(ticket.ticket_id))

    async def _started_with(self, ticket_id: str) -> dict:
        """The start input of a ticket's current run, as JSON (its first history event)."""
        async for event in self._handle(ticket_id).fetch_history_events():
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            codec = self.client.data_converter.payload_codec
            if codec is not None:
                payloads = await codec.decode(payloads)  # UndecryptablePayload names the missing key
            elif payloads and payloads[0].metadata.get("encoding") == ENCODING:
                raise TicketError(NO_KEYS)
            return json.loads(payloads[0].data) if payloads else {}
        return {}

    async def _refuse_if_encrypted(self, ticket_id: str) -> None:
        """Without codec keys, a change to an encrypted ticket would be written in plaintext and
        its answer could not be read: refuse it before sending (its summary shows the encoding)."""
        if self.client.data_converter.payload_codec is not None:
            return
        try:
            response = await self.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace, execution=WorkflowExecution(workflow_id=ticket_id)))
        except RPCError:
            return  # an unknown ticket is reported by the send itself
        if response.execution_config.user_metadata.summary.metadata.get("encoding") == ENCODING:
            raise TicketError(f"ticket {ticket_id}: {NO_KEYS}; nothing was sent")

    async def _check_follows(self, follows: str) -> None:
        try:
            _, status = await self._execution(follows)
        except UnknownTicket:
            raise BadOpening(f"follows: no ticket {follows}") from None
        if status == WorkflowExecutionStatus.RUNNING:
            raise BadOpening(f"follows: ticket {follows} is still open: write to it instead of opening a follow-up")
        if status == WorkflowExecutionStatus.FAILED:
            raise BadOpening(f"follows: ticket {follows} was never opened (its start was refused)")

    def _handle(self, ticket_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle_for(TicketWorkflow.run, ticket_id)

    async def execution(self, ticket_id: str) -> tuple[str, WorkflowExecutionStatus]:
        """(run id, status) of a ticket's latest run; TicketError for an unknown ticket."""
        return await self._execution(ticket_id)

    async def _execution(self, ticket_id: str) -> tuple[str, WorkflowExecutionStatus]:
        """(run id, status) of a ticket's latest run, without decoding its search attributes."""
        try:
            response = await self.client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace, execution=WorkflowExecution(workflow_id=ticket_id),
            ))
        except RPCError as exc:
            raise _rpc_error(exc, ticket_id) from None
        info = response.workflow_execution_info
        return info.execution.run_id, WorkflowExecutionStatus(info.status)

    async def view(self, ticket_id: str, wait: float | None = None) -> TicketView:
        """The ticket's full view from its workflow; NoWorker when no worker answers within `wait` seconds."""
        no_worker = NoWorker(f"no worker answered within {wait:g} s" if wait else "no worker answered")
        try:
            query = self._handle(ticket_id).query(TicketWorkflow.state, rpc_timeout=timedelta(seconds=wait) if wait else None)
            return await (asyncio.wait_for(query, timeout=wait + 1) if wait else query)
        except asyncio.TimeoutError:
            raise no_worker from None
        except RPCError as exc:
            # The SDK reports its own rpc_timeout as DEADLINE_EXCEEDED or as CANCELLED "Timeout expired".
            if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) or "no poller" in str(exc).lower():
                raise no_worker from None
            raise _rpc_error(exc, ticket_id) from None
        except WorkflowQueryFailedError as exc:
            if "no poller" in str(exc).lower():
                raise no_worker from None
            raise TicketError(f"ticket {ticket_id}: query failed: {exc}") from None

    async def describe(self, ticket_id: str) -> WorkflowExecutionDescription:
        """What the server knows without a worker: the run's status and the search attributes."""
        try:
            return await self._handle(ticket_id).describe()
        except RPCError as exc:
            raise _rpc_error(exc, ticket_id) from None

    async def acknowledge(self, ticket_id: str, request: Acknowledge) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_ACKNOWLEDGE, request)

    async def respond(self, ticket_id: str, request: Respond) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_RESPOND, request)

    async def set_status(self, ticket_id: str, request: StatusChange) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_SET_STATUS, request)

    async def customer_message(self, ticket_id: str, request: CustomerMessage) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_CUSTOMER_MESSAGE, request)

    async def resolve(self, ticket_id: str, request: Resolve) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_RESOLVE, request)

    async def reopen(self, ticket_id: str, request: Reopen) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_REOPEN, request)

    async def record_csat(self, ticket_id: str, request: Csat) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_RECORD_CSAT, request)

    async def change_severity(self, ticket_id: str, request: SeverityPlanChange) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_CHANGE_SEVERITY, request)

    async def post_status_update(self, ticket_id: str, request: PostStatusUpdate) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_POST_STATUS, request)

    async def designate_commander(self, ticket_id: str, request: DesignateCommander) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_COMMANDER, request)

    async def acknowledge_page(self, ticket_id: str, request: AcknowledgePage) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_ACK_PAGE, request)

    async def hand_off(self, ticket_id: str, request: HandOff) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_HAND_OFF, request)

    async def escalate_to_management(self, ticket_id: str, request: EscalateToManagement) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_ESCALATE_MANAGEMENT, request)

    async def jump_to_step(self, ticket_id: str, request: JumpToStep) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_JUMP_TO_STEP, request)

    async def record_review(self, ticket_id: str, request: RecordReview) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_RECORD_REVIEW, request)

    async def record_rca(self, ticket_id: str, request: RecordRca) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_RECORD_RCA, request)

    async def add_action(self, ticket_id: str, request: AddAction) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_ADD_ACTION, request)

    async def log_time(self, ticket_id: str, request: LogTime) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_LOG_TIME, request)

    async def complete_obligation(self, ticket_id: str, request: CompleteObligation) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_COMPLETE_OBLIGATION, request)

    async def change_policy(self, ticket_id: str, request: ChangePolicy) -> TicketState:
        return await self.update(ticket_id, contract.UPDATE_CHANGE_POLICY, request)

    async def policy(self, ticket_id: str, wait: float = 10.0) -> PolicySnapshot | None:
        """The policy snapshot the ticket runs under (None before its first workflow task); NoWorker
        when no worker answers within `wait` seconds."""
        try:
            return await self._handle(ticket_id).query(contract.QUERY_POLICY, result_type=PolicySnapshot | None,
                                                       rpc_timeout=timedelta(seconds=wait))
        except RPCError as exc:
            if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise NoWorker(f"no worker answered within {wait:g} s") from None
            raise _rpc_error(exc, ticket_id) from None

    async def update(self, ticket_id: str, update: str, request: TicketMessage) -> TicketState:
        """Send one update and return the ticket's new state; a refusal raises TicketError with the reason.

        Waits as long as it takes; `send` is the form that never hangs."""
        sent = await self.send(ticket_id, update, request, wait=None)
        assert sent.state is not None
        return sent.state

    async def send(self, ticket_id: str, update: str, request: TicketMessage, wait: float | None = DEFAULT_WAIT) -> Sent:
        """Send one update; if no worker answers within `wait` seconds, record it durably instead.

        The request gets an `event_id` when it has none, so it applies at most once. Without an
        `occurred_at` the update applies when the ticket handles it (so concurrent senders never
        trip the order rule among themselves); if it has to be queued, the queued form (a
        `queued_message` signal carrying the same event id) is dated when it was sent, by this
        machine's clock, and applies at that instant when a worker runs again.
        Raises TicketError for a refusal (the reason), an unknown or closed ticket.
        """
        sent_at = datetime.now(UTC)
        request = request.model_copy(update={"event_id": request.event_id or f"E-{uuid.uuid4().hex}"})
        await self._refuse_if_encrypted(ticket_id)
        handle = self._handle(ticket_id)
        try:
            call = handle.execute_update(update, request, id=request.event_id, result_type=TicketState)
            return Sent(request, await asyncio.wait_for(call, timeout=wait) if wait else await call)
        except WorkflowUpdateFailedError as exc:
            raise Refused(f"ticket {ticket_id}: {update_failure_reason(exc)}") from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                await self._refuse_if_closed(ticket_id)
            if exc.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise _rpc_error(exc, ticket_id) from None
        except (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            pass
        request = request.model_copy(update={"occurred_at": request.occurred_at or sent_at})
        try:
            await handle.signal(contract.SIGNAL_QUEUED_MESSAGE, QueuedMessage(update=update, request=request.model_dump(mode="json")))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                await self._refuse_if_closed(ticket_id)
            raise _rpc_error(exc, ticket_id) from None
        return Sent(request, None, why=await self._why_no_answer())

    async def _why_no_answer(self) -> str:
        """'no worker is running' when nothing polls the ticket queue, else that the worker was slow."""
        try:
            response = await self.client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace=self.client.namespace, task_queue=TaskQueue(name=self.task_queue), task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ))
        except RPCError:
            return "no worker answered"
        return "no worker answered in time" if response.pollers else "no worker is running"

    async def _refuse_if_closed(self, ticket_id: str) -> None:
        """A finished ticket's workflow answers 'not found' to updates; say what that means."""
        _, status = await self._execution(ticket_id)
        if status != WorkflowExecutionStatus.RUNNING:
            raise TicketClosed(f"ticket {ticket_id} is closed: open a follow-up ticket (escalator open --follows {ticket_id} ...)")


def _shown(value) -> str:
    return "not set" if value is None else repr(value)


def update_failure_reason(exc: WorkflowUpdateFailedError) -> str:
    """The reason an update was refused, in one line naming the field where there is one.

    A payload that does not decode into the update's model is refused by the SDK with
    "Failed decoding arguments"; the pydantic error that names the field is its cause.
    """
    failure: BaseException | None = exc.cause
    while isinstance(failure, ApplicationError) and failure.message.startswith("Failed decoding") and failure.cause:
        failure = failure.cause
    if not isinstance(failure, ApplicationError):
        return str(failure)
    lines = failure.message.splitlines()
    if failure.type == "ValidationError" and len(lines) >= 3:
        # pydantic's text, as the SDK carried it: "<n> validation error(s) for M / field / msg [type=kind, ...]"
        msg, _, rest = lines[2].strip().partition(" [type=")
        pattern = re.search(r"pattern '(.*)'$", msg)
        return explain({"loc": (lines[1].strip(),), "type": rest.split(",")[0], "msg": msg,
                        "ctx": {"pattern": pattern.group(1)} if pattern else {}})
    return failure.message.removeprefix("ValueError: ")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]


def _rpc_error(exc: RPCError, ticket_id: str) -> TicketError:
    if exc.status == RPCStatusCode.NOT_FOUND and "namespace" in str(exc).lower():
        return TicketError(f"Temporal says: {_first_line(exc)} (--namespace or TEMPORAL_NAMESPACE names it)")
    if exc.status == RPCStatusCode.NOT_FOUND:
        return UnknownTicket(f"no ticket {ticket_id}")
    if exc.status == RPCStatusCode.UNAVAILABLE:
        return Unavailable(f"Temporal is unavailable: {_first_line(exc)}")
    return TicketError(f"ticket {ticket_id}: {exc.status.name.lower() if exc.status else 'error'}: {_first_line(exc)}")
