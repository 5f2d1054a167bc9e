"""Signed inbound helpdesk webhooks: who sent a delivery (`verify`) and what it means (`mapping`)."""
