"""The sandbox setup shared by the worker and the replay tests."""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# The domain package is deterministic; passing it through saves re-importing it per workflow
# task, and lets it build ZoneInfo objects (which fails inside the sandbox).
PASSTHROUGH = ("sla", "policies", "pydantic", "pydantic_core", "annotated_types", "holidays", "tzdata")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))
