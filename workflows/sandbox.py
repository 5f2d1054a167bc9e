"""The sandbox setup shared by the worker and the replay tests.

The SDK re-imports a workflow's module in a fresh sandbox for every ticket it starts or
replays. Whatever that module imports from outside the pass-through list is re-imported (and,
without bytecode caching, compiled again) each time: that was a quarter of the worker's time
when 200 tickets opened at once (docs/performance.md). So everything deterministic is passed
through: the domain package, and the workflow's own parts (no module state; they call only
`workflow.*` and the domain). Only `workflows.ticket`, the module defining the workflow, runs
in the sandbox, where non-deterministic calls (datetime.now(), random) are refused.
"""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# The domain package also builds ZoneInfo objects, which fails inside the sandbox.
DOMAIN = ("sla", "policies", "pydantic", "pydantic_core", "annotated_types", "holidays", "tzdata")
WORKFLOW_PARTS = tuple(f"workflows.{part}" for part in (
    "alarm", "contract", "doors", "inbox", "measure", "outbox", "overdue", "publish", "search_attributes", "timeline",
))
PASSTHROUGH = DOMAIN + WORKFLOW_PARTS


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
