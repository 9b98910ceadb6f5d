#!/usr/bin/env python3
"""Traffic for deploy/cluster/test.sh: steady mixed load, the check of what
it wrote, and a FastCGI request straight to one pool host.

  traffic.py load OUT URL STOP PHASE TOKEN[=EXTRA_PATH,...] ...
      Until the file STOP exists: per token (one user each) a reader (GETs:
      /api/health without credential, stats, the job list, the user's latest
      job and its metrics, and the EXTRA_PATHs) and a writer (a job create,
      then three metric batches of 10 steps for that job, again and again).
      One connection per request, so no failure is an artefact of a kept
      connection that nginx closed. Writes every request to OUT (JSON lines).

  traffic.py check OUT URL LABEL --tokens "TOKEN ..." [--get-may-fail STATUS,...]
                   [--post-may-fail STATUS,...] [--failures-within T0 T1] [--gets-within SECONDS]
      Asks the API (through nginx) for every write that got a 2xx: each
      acknowledged job is stored once and each acknowledged metric batch is
      stored whole. Fails on a write lost or a job stored twice, on a failed
      GET or POST whose status is not allowed, on a failure outside the
      window T0..T1 (epoch seconds), on a GET slower than SECONDS, and
      prints one summary line.

  traffic.py fcgi ADDRESS:PORT METHOD PATH [NAME=VALUE ...]
      One FastCGI request to a pool host (no nginx: a key hashes to one host,
      this reaches any). NAME=VALUE are FastCGI params (HTTP_X_API_KEY=…).
      Prints the response's status.
"""

import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse

# Longer than anything nginx can make a request wait (deploy/cluster/nginx.conf.example's
# fastcgi_next_upstream_timeout plus one read timeout): a request past it is a failure of its own.
CLIENT_TIMEOUT = 60


def request(base, method, path, headers=None, body=None):
    """One request on a connection of its own: (status, parsed JSON or None); status 0 if no answer."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=CLIENT_TIMEOUT)
    try:
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Connection": "close", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return response.status, parsed
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        connection.close()


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []

    def add(self, **record):
        with self.lock:
            self.records.append(record)


def reader(base, stop, client, token, extra, state, recorder):
    auth = {"Authorization": f"Bearer {token}"}
    turn = 0
    while not os.path.exists(stop):
        paths = [(None, "/api/health"), (auth, "/api/training/stats"), (auth, "/api/training/jobs?limit=5")]
        job = state.get("job")
        if job:
            paths += [(auth, f"/api/training/jobs/{job}"), (auth, f"/api/training/jobs/{job}/metrics?limit=50")]
        paths += [(auth, path) for path in extra]
        headers, path = paths[turn % len(paths)]
        turn += 1
        started = time.time()
        status, _ = request(base, "GET", path, headers)
        recorder.add(kind="get", client=client, path=path, status=status, start=started, end=time.time())
        time.sleep(0.02)


def writer(base, stop, phase, client, token, state, recorder):
    auth = {"Authorization": f"Bearer {token}"}
    number = 0
    while not os.path.exists(stop):
        number += 1
        name = f"{phase}-{client}-{number}"
        started = time.time()
        status, body = request(base, "POST", "/api/training/jobs", auth, {"model_name": name, "config": {}, "total_steps": 100000})
        job = body["data"]["id"] if status == 201 and isinstance(body, dict) else None
        recorder.add(kind="create", client=client, name=name, job=job, status=status, start=started, end=time.time())
        if job:
            state["job"] = job
            state["batches"] = 0
        time.sleep(0.03)
        # Three batches for the latest job that was created (an earlier one when this create failed).
        for _ in range(3):
            if os.path.exists(stop) or not state.get("job"):
                break
            job, batch = state["job"], state["batches"]
            state["batches"] = batch + 1
            steps = list(range(batch * 10, batch * 10 + 10))
            points = [{"step": step, "epoch": 1, "train_loss": 1.0 / (step + 1), "learning_rate": 0.0001} for step in steps]
            started = time.time()
            status, body = request(base, "POST", f"/api/training/jobs/{job}/metrics", auth, {"metrics": points})
            if 200 <= status < 300 and not (isinstance(body, dict) and body.get("accepted") == len(points)):
                status = -status  # a 2xx that does not say it took every point: counted as failed
            recorder.add(kind="metrics", client=client, job=job, steps=steps, status=status, start=started, end=time.time())
            time.sleep(0.03)


def load(out, base, stop, phase, tokens):
    recorder = Recorder()
    threads = []
    for client, spec in enumerate(tokens):
        token, _, extra = spec.partition("=")
        state = {}
        extra_paths = [path for path in extra.split(",") if path]
        threads.append(threading.Thread(target=reader, args=(base, stop, client, token, extra_paths, state, recorder)))
        threads.append(threading.Thread(target=writer, args=(base, stop, phase, client, token, state, recorder)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(out, "w") as f:
        for record in recorder.records:
            f.write(json.dumps(record) + "\n")


def failures(out, get_may_fail, post_may_fail, window):
    """(records, the failed ones, problems): the load's requests from OUT, and what failed that may not."""
    records = [json.loads(line) for line in open(out)]
    problems = []
    failed = [r for r in records if not 200 <= r["status"] < 300]
    for r in failed:
        allowed = get_may_fail if r["kind"] == "get" else post_may_fail
        if r["status"] not in allowed:
            what = r.get("path") or r.get("name") or f"metrics of {r.get('job')}"
            problems.append(f"{r['kind']} {what}: status {r['status']}")
        elif window and not (window[0] <= r["end"] and r["start"] <= window[1]):
            problems.append(f"{r['kind']} failed with {r['status']} at {r['start']:.1f}..{r['end']:.1f}, outside {window[0]:.1f}..{window[1]:.1f}")
    return records, failed, problems


def stored_writes(records, base, token_of):
    """(acknowledged, lost, twice, details): asks the API for every acknowledged write of the load."""
    acknowledged = lost = twice = 0
    details = []
    by_client = {}
    for r in records:
        by_client.setdefault(r["client"], []).append(r)
    for client, rs in by_client.items():
        auth = {"Authorization": f"Bearer {token_of[client]}"}
        names = {}
        offset = 0
        while True:
            status, body = request(base, "GET", f"/api/training/jobs?limit=200&offset={offset}", auth)
            if status != 200:
                raise SystemExit(f"listing jobs: {status}")
            for job in body["data"]:
                names[job["model_name"]] = names.get(job["model_name"], 0) + 1
            offset += len(body["data"])
            if not body["data"] or offset >= body["total"]:
                break
        phase_names = {r["name"] for r in rs if r["kind"] == "create"}
        for name in phase_names:
            if names.get(name, 0) > 1:
                twice += 1
                details.append(f"job {name} stored {names[name]} times")
        for r in rs:
            if r["kind"] == "create" and r["status"] == 201:
                acknowledged += 1
                if names.get(r["name"], 0) == 0:
                    lost += 1
                    details.append(f"job {r['name']} answered 201 but not stored")
        steps_of = {}
        for r in rs:
            if r["kind"] == "metrics" and 200 <= r["status"] < 300:
                acknowledged += 1
                if r["job"] not in steps_of:
                    status, body = request(base, "GET", f"/api/training/jobs/{r['job']}/metrics?limit=5000", auth)
                    if status != 200:
                        raise SystemExit(f"metrics of {r['job']}: {status}")
                    steps_of[r["job"]] = {point["step"] for point in body["data"]}
                missing = [step for step in r["steps"] if step not in steps_of[r["job"]]]
                if missing:
                    lost += 1
                    details.append(f"metrics of {r['job']}: steps {missing} answered 2xx but not stored")
    return acknowledged, lost, twice, details


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "load" and len(sys.argv) >= 7:
        out, base, stop, phase = sys.argv[2:6]
        load(out, base, stop, phase, sys.argv[6:])
    elif command == "check" and len(sys.argv) >= 5:
        out, base, label = sys.argv[2:5]
        rest = sys.argv[5:]
        get_may_fail, post_may_fail, window, tokens, gets_within = set(), set(), None, [], None
        while rest:
            option = rest.pop(0)
            if option == "--get-may-fail":
                get_may_fail = {int(s) for s in rest.pop(0).split(",")}
            elif option == "--post-may-fail":
                post_may_fail = {int(s) for s in rest.pop(0).split(",")}
            elif option == "--gets-within":
                gets_within = float(rest.pop(0))
            elif option == "--failures-within":
                window = (float(rest.pop(0)), float(rest.pop(0)))
            elif option == "--tokens":
                tokens = rest.pop(0).split()
            else:
                raise SystemExit(f"unknown option {option}")
        records, failed, problems = failures(out, get_may_fail, post_may_fail, window)
        acknowledged, lost, twice, details = stored_writes(records, base, [t.partition("=")[0] for t in tokens])
        problems += details
        count = lambda kind: sum(1 for r in records if r["kind"] == kind)  # noqa: E731
        failed_gets = sum(1 for r in failed if r["kind"] == "get")
        slowest = max((r["end"] - r["start"] for r in records if r["kind"] == "get"), default=0)
        if gets_within is not None and slowest > gets_within:
            problems.append(f"a GET took {slowest:.1f} s, more than {gets_within} s")
        statuses = {}
        for r in failed:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        print(f"{label}: {len(records)} requests sent ({count('get')} GETs, {count('create')} job creates, "
              f"{count('metrics')} metric batches), {len(failed)} failed ({failed_gets} GETs"
              f"{''.join(f'; {n} × {s}' for s, n in sorted(statuses.items()))}), "
              f"{acknowledged} writes acknowledged, {lost} lost, {twice} stored twice; slowest GET {slowest:.1f} s")
        if window and failed:
            print(f"  failures from {min(r['start'] for r in failed) - window[0]:+.1f} s to {max(r['end'] for r in failed) - window[0]:+.1f} s"
                  f" of the window's start; the window ends at {window[1] - window[0]:+.1f} s")
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1 if problems else 0)
    elif command == "fcgi" and len(sys.argv) >= 5:
        print(fcgi(sys.argv[2], sys.argv[3], sys.argv[4], dict(p.split("=", 1) for p in sys.argv[5:])))
    else:
        sys.exit(__doc__)


def fcgi(address, method, path, extra):
    """One FastCGI responder request (no body) to ADDRESS:PORT; returns the status the pool answered."""
    host, _, port = address.rpartition(":")
    uri, _, query = path.partition("?")
    params = {"REQUEST_METHOD": method, "REQUEST_URI": path, "DOCUMENT_URI": uri, "SCRIPT_NAME": uri, "QUERY_STRING": query,
              "CONTENT_LENGTH": "0", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", **extra}

    def record(kind, content=b""):
        return struct.pack(">BBHHBB", 1, kind, 1, len(content), 0, 0) + content

    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

    pairs = b"".join(length(len(k)) + length(len(v.encode())) + k.encode() + v.encode() for k, v in params.items())
    with socket.create_connection((host, int(port)), timeout=10) as s:
        # BEGIN_REQUEST (responder, don't keep the connection), PARAMS, end of PARAMS, end of STDIN.
        s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, pairs) + record(4) + record(5))
        output = b""
        buffered = b""
        while True:
            while len(buffered) < 8:
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit("the pool closed the connection before END_REQUEST")
                buffered += chunk
            _, kind, _, size, padding, _ = struct.unpack(">BBHHBB", buffered[:8])
            while len(buffered) < 8 + size + padding:
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit("the pool closed the connection inside a record")
                buffered += chunk
            if kind == 6:
                output += buffered[8:8 + size]
            buffered = buffered[8 + size + padding:]
            if kind == 3:
                break
    head = output.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    for line in head.split("\r\n"):
        if line.lower().startswith("status:"):
            return int(line.split()[1])
    return 200


if __name__ == "__main__":
    main()
