"""The OpenAI-compatible HTTP API: ``create_app(settings)`` in ``habla.server.app``; ``habla serve`` runs it."""
