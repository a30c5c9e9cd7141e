"""newsflow: event-driven news ingestion (fetch, clean, dedup, classify as queued Celery stages)."""

__version__ = "0.1.0"
