"""The ticket store (SQL): read by the CLI, written by activities. Imports nothing of Temporal."""
