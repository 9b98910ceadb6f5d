#!/usr/bin/env python3
"""Training agents racing across the cluster, for deploy/cluster/test.sh:

  agents.py URL CREDENTIAL HOST:PORT [HOST:PORT ...]

with the agent of Tests/TrainingAgent/agent.py (the platform's agent's requests):
  1. through nginx (URL): 8 agents poll and claim 40 queued jobs at once (one
     credential: nginx sends all of them to one host);
  2. straight to the hosts over FastCGI: 8 agents, spread over the hosts,
     race for 40 more;
  3. 10 times: one new job, 8 agents spread over the hosts claiming it at the
     same moment.
Each job must be claimed exactly once (the others 409 ALREADY_CLAIMED or
INVALID_STATUS) and end completed by its one winner. CREDENTIAL: a session
token (not rate-limited) of a user with no jobs. Prints one summary line;
exits 1 with what went wrong.
"""

import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "TrainingAgent"))
import agent  # noqa: E402

AGENTS, JOBS, ROUNDS = 8, 40, 10


class FastCGITransport:
    """One FastCGI responder request per call, straight to a pool host (no nginx), as agent.py's transports answer."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))

    def request(self, method, path, headers, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        uri, _, query = path.partition("?")
        params = {"REQUEST_METHOD": method, "REQUEST_URI": path, "DOCUMENT_URI": uri, "SCRIPT_NAME": uri, "QUERY_STRING": query,
                  "CONTENT_LENGTH": str(len(data)), "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REQUEST_SCHEME": "http",
                  "SERVER_NAME": "cluster", "SERVER_PORT": "80", "HTTP_HOST": "cluster"}
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            params["CONTENT_TYPE" if key == "CONTENT_TYPE" else "HTTP_" + key] = value

        def record(kind, content=b""):
            return struct.pack(">BBHHBB", 1, kind, 1, len(content), 0, 0) + content

        def length(n):
            return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

        pairs = b"".join(length(len(k)) + length(len(v.encode())) + k.encode() + v.encode() for k, v in params.items())
        stdin = b"".join(record(5, data[i:i + 65535]) for i in range(0, len(data), 65535))
        with socket.create_connection(self.address, timeout=agent.TIMEOUT) as s:
            s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, pairs) + record(4) + stdin + record(5))
            output, buffered = b"", b""
            while True:
                while len(buffered) < 8:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise agent.Failure(f"{self.address}: the pool closed the connection before END_REQUEST")
                    buffered += chunk
                _, kind, _, size, padding, _ = struct.unpack(">BBHHBB", buffered[:8])
                while len(buffered) < 8 + size + padding:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise agent.Failure(f"{self.address}: the pool closed the connection inside a record")
                    buffered += chunk
                if kind == 6:
                    output += buffered[8:8 + size]
                buffered = buffered[8 + size + padding:]
                if kind == 3:
                    break
        head, _, content = output.partition(b"\r\n\r\n")
        status, answer_headers = 200, {}
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
            if name.strip().lower() == "status":
                status = int(value.split()[0])
        return agent.Answer(status, answer_headers, content)


def race(make_transport, user, credential, label):
    """JOBS new jobs (made through nginx), AGENTS agents racing for them; each claimed once and completed by its winner."""
    job_ids = [user.create_job(f"cluster-{label}-{i}", total_steps=10) for i in range(JOBS)]
    claims, _ = agent.run_race(make_transport, credential, AGENTS, job_ids)
    winners = claims.winners()
    by_id = {job["id"]: job for job in user.jobs()}
    for job_id in job_ids:
        job = by_id[job_id]
        agent.expect(job["status"] == "completed" and job["agent_id"] == winners[job_id][0] and job["attempts"] == 1,
                     f"{label}: after the race: {job}")
    return claims.losers()[1]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    base, credential, hosts = sys.argv[1], sys.argv[2], sys.argv[3:]
    user = agent.User(agent.HTTPTransport(base), credential)
    try:
        through_nginx = race(lambda _: agent.HTTPTransport(base), user, credential, "nginx")
        straight = race(lambda i: FastCGITransport(hosts[i % len(hosts)]), user, credential, "hosts")
        one_job = agent.claim_one(lambda i: FastCGITransport(hosts[i % len(hosts)]), credential, user, ROUNDS, AGENTS)
    except agent.Failure as failure:
        print(f"agents: FAILED: {failure}")
        sys.exit(1)

    def counted(codes):
        return ", ".join(f"{n} × {code}" for code, n in sorted(codes.items())) or "none"

    print(f"agents: {JOBS} jobs through nginx and {JOBS} straight to {len(hosts)} hosts, {AGENTS} agents each: every job claimed once "
          f"(the other claims: {counted(through_nginx)}; {counted(straight)}); {ROUNDS} jobs × {AGENTS} simultaneous claims across the "
          f"hosts: one winner each ({counted(one_job)})")


if __name__ == "__main__":
    main()
