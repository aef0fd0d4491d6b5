"""The test app's web process: a stdlib-only HTTP server like a small real app's.

GET /        the app's version (``APP_VERSION``, baked into the image) and a newline
GET /health  ``ok``
GET /whoami  JSON: version, release (``BERTH_RELEASE``), process, hostname, pid
GET /slow?seconds=N  answers after N seconds (a request in flight across a flip or a stop)
POST (any path)  echoes the request body back

One access line per request on stdout. On SIGTERM it stops listening, finishes the requests in
flight and exits 0, as gunicorn or uvicorn do. Listens on ``PORT`` (default 8080).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = os.environ.get("APP_VERSION", "dev")


def identity() -> dict[str, object]:
    return {
        "version": VERSION,
        "release": os.environ.get("BERTH_RELEASE", ""),
        "process": os.environ.get("BERTH_PROCESS", "web"),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a stop never waits on a client's idle keep-alive.
    protocol_version = "HTTP/1.0"
    server_version = "pyapp"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self.answer(200, f"{VERSION}\n".encode())
        elif url.path == "/health":
            self.answer(200, b"ok\n")
        elif url.path == "/whoami":
            self.answer(200, json.dumps(identity()).encode(), "application/json")
        elif url.path == "/slow":
            seconds = float(parse_qs(url.query).get("seconds", ["1"])[0])
            print(f"web: slow request for {seconds} s", flush=True)
            time.sleep(seconds)
            self.answer(200, b"slow\n")
        else:
            self.answer(404, b"not found\n")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, body, self.headers.get("Content-Type") or "application/octet-stream")

    def answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"web {self.client_address[0]} {format % args}", flush=True)


class Server(ThreadingHTTPServer):
    # Request threads are joined by server_close() (daemon threads would be left to die).
    daemon_threads = False


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    server = Server(("0.0.0.0", port), Handler)

    def on_term(signum: int, frame: object) -> None:
        print("web: SIGTERM, finishing the requests in flight", flush=True)
        # shutdown() waits for serve_forever() to return: never from the thread running it.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_term)
    print(f"web: version {VERSION} listening on :{port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()  # joins the request threads still running
    print("web: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
