"""Temporal workflows: one durable `TicketWorkflow` per ticket."""
