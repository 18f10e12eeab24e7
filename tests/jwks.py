"""A JWKS URL on loopback serving one key (optionally slow), counting its fetches."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JWKSServer:
    """Serves `{"keys": [jwk]}` at `url`, each answer after `delay` seconds."""

    def __init__(self, jwk: dict, delay: float = 0.0) -> None:
        body = json.dumps({"keys": [jwk]}).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.fetches += 1
                if delay:
                    time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
