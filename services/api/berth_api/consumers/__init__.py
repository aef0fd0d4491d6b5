"""Bus event appliers: each applies one durable consumer's events to the ``api`` schema, in one
transaction per event and idempotently (JetStream delivers at least once). Wired in
:mod:`berth_api.service`; they import only from below them (stores, ``app_status``), never
each other, a responder or a route."""
