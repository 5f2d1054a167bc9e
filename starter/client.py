"""A small Python client for backend systems that open and drive tickets."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sla.messages import Acknowledge, Resolve, TicketView
from sla.ticket import TicketOpened, TicketState
from workflows import contract
from workflows.ticket import TicketWorkflow


class TicketError(Exception):
    """A failure worth one line to a person: unreachable server, unknown ticket, refused update."""


@dataclass(frozen=True)
class Opened:
    ticket_id: str
    run_id: str | None
    created: bool
    ui_url: str


class TicketClient:
    """Opens tickets (idempotently, by ticket id) and sends them updates and queries."""

    def __init__(self, client: Client, ui_url: str = "http://localhost:8233", task_queue: str = contract.TASK_QUEUE) -> None:
        self.client = client
        self.ui_url = ui_url.rstrip("/")
        self.task_queue = task_queue

    @classmethod
    async def connect(cls, address: str, namespace: str = "default", **kwargs) -> "TicketClient":
        try:
            client = await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
        except RuntimeError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else _first_line(exc)[:160]
            raise TicketError(f"cannot reach Temporal at {address}: {reason} (is `make dev` running?)") from None
        return cls(client, **kwargs)

    def link(self, ticket_id: str) -> str:
        return f"{self.ui_url}/namespaces/{quote(self.client.namespace)}/workflows/{quote(ticket_id, safe='')}"

    async def open(self, ticket: TicketOpened) -> Opened:
        """Start the ticket's workflow; a ticket already running is returned as it is, not started twice."""
        try:
            handle = await self.client.start_workflow(
                TicketWorkflow.run, ticket, id=ticket.ticket_id, task_queue=self.task_queue,
                # A closed ticket stays closed: a new message needs a follow-up ticket.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{ticket.customer} · {ticket.severity.label} · {ticket.title}",
            )
            return Opened(ticket.ticket_id, handle.result_run_id, True, self.link(ticket.ticket_id))
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as exc:
            raise _rpc_error(exc, ticket.ticket_id) from None
        description = await self._describe(ticket.ticket_id)
        if description.status != WorkflowExecutionStatus.RUNNING:
            raise TicketError(f"ticket {ticket.ticket_id} exists and is {description.status.name.lower()}: open a follow-up ticket with a new id")
        return Opened(ticket.ticket_id, description.run_id, False, self.link(ticket.ticket_id))

    def _handle(self, ticket_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle_for(TicketWorkflow.run, ticket_id)

    async def _describe(self, ticket_id: str):
        try:
            return await self._handle(ticket_id).describe()
        except RPCError as exc:
            raise _rpc_error(exc, ticket_id) from None

    async def view(self, ticket_id: str) -> TicketView:
        try:
            return await self._handle(ticket_id).query(TicketWorkflow.state)
        except RPCError as exc:
            raise _rpc_error(exc, ticket_id) from None
        except WorkflowQueryFailedError as exc:
            raise TicketError(f"ticket {ticket_id}: query failed: {exc}") from None

    async def acknowledge(self, ticket_id: str, request: Acknowledge) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.acknowledge, request)

    async def resolve(self, ticket_id: str, request: Resolve) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.resolve, request)

    async def _update(self, ticket_id: str, update, request) -> TicketState:
        try:
            return await self._handle(ticket_id).execute_update(update, request)
        except WorkflowUpdateFailedError as exc:
            raise TicketError(f"ticket {ticket_id}: {update_failure_reason(exc)}") from None
        except RPCError as exc:
            raise _rpc_error(exc, ticket_id) from None


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
        return f"{lines[1].strip()}: {lines[2].strip().split(' [type=')[0]}"
    return failure.message


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]


def _rpc_error(exc: RPCError, ticket_id: str) -> TicketError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        if "completed" in str(exc):
            return TicketError(f"ticket {ticket_id} is finished: it takes no more messages")
        return TicketError(f"no ticket {ticket_id}")
    if exc.status == RPCStatusCode.UNAVAILABLE:
        return TicketError(f"Temporal is unavailable: {_first_line(exc)}")
    return TicketError(f"ticket {ticket_id}: {exc.status.name.lower() if exc.status else 'error'}: {_first_line(exc)}")
