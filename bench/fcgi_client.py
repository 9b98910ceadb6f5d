#!/usr/bin/env python3
"""Sends N FastCGI requests for GET /api/training/stats straight to a pool's
unix socket, one after the other on one kept connection (as nginx does with
fastcgi_keep_conn on), rotating through the API keys given, and checks that
every answer is a 200 (a 201 for a job created). Standard library only.

    fcgi_client.py SOCKET KEYS_FILE N
    fcgi_client.py SOCKET KEYS_FILE N metrics JOBS_FILE FIRST_STEP

The second form sends N metric batches instead (POST /api/training/jobs/:id/metrics,
100 points each, with the first key), round robin over the jobs listed in
JOBS_FILE, each job's batches in step order from FIRST_STEP: what a trainer
sends. When JOBS_FILE does not exist yet, 20 jobs are created first and listed
in it.
"""
import json
import os
import socket
import struct
import sys

BEGIN, PARAMS, STDIN, STDOUT, STDERR, END = 1, 4, 5, 6, 7, 3


def record(kind, request_id, content):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


def params(key, method="GET", path="/api/training/stats", length=0):
    fields = {
        "QUERY_STRING": "", "REQUEST_METHOD": method, "CONTENT_TYPE": "application/json" if length else "",
        "CONTENT_LENGTH": str(length) if length else "",
        "SCRIPT_NAME": path, "REQUEST_URI": path,
        "DOCUMENT_URI": path, "DOCUMENT_ROOT": "/", "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "8080", "SERVER_NAME": "localhost", "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "fcgi_client", "HTTP_ACCEPT": "*/*", "HTTP_X_API_KEY": key,
    }
    return b"".join(pair(n, v) for n, v in fields.items())


class Connection:
    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.connect(path)
        self.buffer = b""
        self.sent = 0

    def send(self, key, method="GET", path="/api/training/stats", body=b"", expect=b"200"):
        """One request; its response body. Exits unless the status is `expect`."""
        stdin = b"".join(record(STDIN, 1, body[i:i + 65535]) for i in range(0, len(body), 65535))
        message = (record(BEGIN, 1, struct.pack(">HB5x", 1, 1)) + record(PARAMS, 1, params(key, method, path, len(body)))
                   + record(PARAMS, 1, b"") + stdin + record(STDIN, 1, b""))
        self.socket.sendall(message)
        stdout = b""
        while True:
            while len(self.buffer) < 8 or len(self.buffer) < 8 + struct.unpack(">H", self.buffer[4:6])[0] + self.buffer[6]:
                chunk = self.socket.recv(65536)
                if not chunk:
                    sys.exit("connection closed after %d requests" % self.sent)
                self.buffer += chunk
            _, kind, _, length, padding = struct.unpack(">BBHHB", self.buffer[:7])
            content, self.buffer = self.buffer[8:8 + length], self.buffer[8 + length + padding:]
            if kind == STDOUT:
                stdout += content
            elif kind == END:
                break
        head, _, answer = stdout.partition(b"\r\n\r\n")
        if not (head.startswith(b"Status: " + expect) or (expect == b"200" and b"Status:" not in head)):
            sys.exit("request %d: %r" % (self.sent, stdout[:200]))
        self.sent += 1
        return answer


def batch(first_step, points=100):
    return json.dumps({"metrics": [
        {"step": s, "epoch": s / 1000, "train_loss": 2.0 / (1 + s / 100), "eval_loss": 2.1 / (1 + s / 100), "learning_rate": 2e-4,
         "grad_norm": 1.0, "samples_per_second": 40.0 + s % 7, "tokens_per_second": 20000.0}
        for s in range(first_step, first_step + points)]}).encode()


def main():
    path, keys_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    keys = [line.split("\t")[0].strip() for line in open(keys_file) if line.strip()]
    connection = Connection(path)
    if sys.argv[4:5] == ["metrics"]:
        jobs_file, first_step = sys.argv[5], int(sys.argv[6])
        if not os.path.exists(jobs_file):
            created = [json.loads(connection.send(keys[0], "POST", "/api/training/jobs", b'{"model_name": "llama"}', b"201"))["id"]
                       for _ in range(20)]
            with open(jobs_file, "w") as f:
                f.write("\n".join(created) + "\n")
        jobs = [line.strip() for line in open(jobs_file) if line.strip()]
        bodies = [batch(first_step + round_ * 100) for round_ in range((count + len(jobs) - 1) // len(jobs))]
        for index in range(count):
            connection.send(keys[0], "POST", "/api/training/jobs/%s/metrics" % jobs[index % len(jobs)], bodies[index // len(jobs)])
    else:
        for index in range(count):
            connection.send(keys[index % len(keys)])
    connection.socket.close()


if __name__ == "__main__":
    main()
