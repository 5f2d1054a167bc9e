"""Everything that starts or talks to ticket workflows from outside: client, CLI, dev runner."""
