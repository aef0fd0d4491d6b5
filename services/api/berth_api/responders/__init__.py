"""Bus responders: the API's answers to other services' queries (``berth.rpc.api.*``). Wired
in :mod:`berth_api.service`; they import only from below them, never a consumer or a route."""
