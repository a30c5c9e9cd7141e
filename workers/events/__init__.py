"""Article events out: what newsflow ingests, as a Redis Stream other services subscribe to.

- `envelope`: PURE. Which event rows are terminal, and the CloudEvents 1.0 envelope of each.
- `relay`: the outbox relay (run by `newsflow scheduler`): terminal event rows from the store
  to the stream, the cursor kept in the database.
- `webhook`: an optional consumer group that POSTs each envelope to NEWSFLOW_WEBHOOK_URL.

docs/events.md is the consumer's guide.
"""
