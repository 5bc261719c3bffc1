"""Notifiers: receivers from patrol.yaml, one module per message format in
``formats/``, and the outbox ``Dispatcher`` that delivers incident events with
retries, backoff and per-receiver rate limits."""
