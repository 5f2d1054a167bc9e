"""Reaching Temporal: the connection profile and the payload codec, shared by the worker and the CLI."""
