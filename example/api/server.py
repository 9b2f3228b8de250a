"""The example's API: serves the generated items over HTTP on $PORT (default 8081)."""
import json
import os
import pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = pathlib.Path(__file__).parent / "items.json"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"ok": True})
        elif self.path == "/items":
            self.reply(200, json.loads(ITEMS.read_text()))
        else:
            self.reply(404, {"error": "not found"})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        # The readiness probe asks /health every second: not worth a log line.
        if self.path != "/health":
            print("api:", fmt % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8081"))
    print(f"api listening on http://127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
