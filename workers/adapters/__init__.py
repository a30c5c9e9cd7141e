"""Adapters: the effects (Redis, HTTP, database) stages reach through small interfaces."""
