"""Routing: the publisher (task health -> route registry) and the router (registry -> nginx)."""
