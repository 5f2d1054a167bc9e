"""Activities: the side effects of tickets (policy loading, notifiers, later the ticket store)."""
