"""The API's edge: what every request meets before a route reads it.

``gate`` decides per route who must be authenticated and how large a body may be; ``client``
names the client (the real one behind the proxy, only when the proxy proves itself) and
whether it came over HTTPS; ``limiter`` counts failed authentications per client; ``cookies``
names the session cookie; ``middleware`` is the thin ASGI layer that applies them."""
