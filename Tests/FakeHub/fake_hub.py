#!/usr/bin/env python3
"""A fake Hugging Face Hub for the integration tests (standard library only).

Listens on 127.0.0.1 at an ephemeral port and prints the port on the first
line of stdout. GET /api/models answers by the search text's first word:
  slow...       sleeps SLOW_SECONDS (default 3), then answers normally
  fail...       HTTP 500
  malformed...  HTTP 200 with a body that is not JSON
  wrongshape... HTTP 200 with a JSON object instead of an array
  anything else `limit` models named after the search text
GET /_requests lists every /api/models request seen: path and Authorization.
"""
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "3"))
seen, lock = [], threading.Lock()


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_requests":
            with lock:
                return self.answer(200, json.dumps(seen))
        if url.path != "/api/models":
            return self.answer(404, json.dumps({"error": "not found"}))
        with lock:
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        query = parse_qs(url.query)
        search = query.get("search", [""])[0]
        limit = int(query.get("limit", ["10"])[0])
        if search.startswith("slow"):
            time.sleep(SLOW_SECONDS)
        elif search.startswith("fail"):
            return self.answer(500, json.dumps({"error": "Internal Error"}))
        elif search.startswith("malformed"):
            return self.answer(200, "<html>this is not json", "text/html")
        elif search.startswith("wrongshape"):
            return self.answer(200, json.dumps({"models": []}))
        models = []
        for i in range(min(limit, 25)):
            model = {"_id": f"x{i}", "id": f"org{i}/{search}-{i}", "downloads": 1000 - i, "likes": i, "private": False,
                     "tags": ["transformers", search], "pipeline_tag": "text-generation", "library_name": "transformers",
                     "createdAt": "2024-07-14T08:42:00.000Z", "lastModified": "2024-09-25T14:28:51.000Z"}
            if i % 2 == 0:
                model["author"] = f"org{i}"
            models.append(model)
        self.answer(200, json.dumps(models))


server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
