"""The rules of the escalation orchestrator, with no I/O and no clock.

Everything here is deterministic: the workflow sandbox passes this package through whole,
and `escalator plan` and the tests use it without Temporal.
"""
