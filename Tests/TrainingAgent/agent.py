#!/usr/bin/env python3
"""A training agent as the platform's own (FineTune Lab's training-agent:
src/services/job_poller.py and src/api/backend_client.py) talks to the API,
and the scenarios that Tests/IntegrationTests/TrainingAgentTests.swift and
deploy/cluster/agents.py run with it.

The agent sends what the platform's sends: `Authorization: Bearer <API key>`,
`X-Agent-ID: agent_<16 hex>`, `Content-Type: application/json` on
GET /api/training/agent/poll and POST /api/training/agent/claim/{id}; then,
with `Authorization: Bearer <job_token>` from the claim, one
PUT /api/training/local/{id}/metrics per step (the 13 point fields, None
values left out), POST /api/training/local/{id}/logs and
PATCH /api/training/local/{id}/status. A dataset_path that starts with http
is downloaded with no header but Host.

  agent.py loop                 poll, claim, train until the queue is empty; prints RESULT <json>
  agent.py race AGENTS JOBS     JOBS new jobs, AGENTS agents polling and claiming at once: each job claimed once
  agent.py claim-one ROUNDS N   ROUNDS times: one new job, N agents claiming it at the same moment: one winner
  agent.py lease                (pool with FTAPI_AGENT_LEASE_SECONDS) a silent agent loses its job; polls and writes keep theirs
  agent.py lease-max            silent agents one after the other: the job fails with "agent lost" at the last attempt
  agent.py cancel               a held job cancelled by its user; an agent deleted while it holds a job

Environment: FTAPI_URL (nginx), FTAPI_KEY (an API key of scope training, or a session token: the credential),
FTAPI_AGENT_ID (loop; else a new one), FTAPI_DOWNLOAD_DIR (loop: where downloaded datasets go),
FTAPI_STEPS (loop: steps per job, 3), FTAPI_LEASE_SECONDS (lease modes: the pool's lease, 2), FTAPI_MAX_ATTEMPTS
(lease-max: the pool's FTAPI_AGENT_MAX_ATTEMPTS, 2).
Prints OK as its last line when every check held; otherwise FAILED: <what> (or a traceback), exit 1.
"""

import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import uuid

TIMEOUT = 30
# What the poll and the claim give of a job (the contract's "A job as these routes give it").
JOB_FIELDS = {"id", "model_name", "dataset_path", "dataset_url", "dataset_url_expires_at", "config", "total_epochs", "total_steps", "created_at"}
# What the platform's agent sends in each metric point (backend_client.report_metrics).
POINT_FIELDS = ["step", "epoch", "train_loss", "eval_loss", "learning_rate", "grad_norm", "gpu_memory_allocated_gb", "gpu_memory_reserved_gb",
                "gpu_utilization_percent", "samples_per_second", "tokens_per_second", "train_perplexity", "eval_perplexity"]
TERMINAL = {"completed", "failed", "cancelled"}
STATUSES = {"pending", "running", "paused"} | TERMINAL


class Failure(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failure(what() if callable(what) else what)


def new_agent_id():
    return "agent_" + uuid.uuid4().hex[:16]


class Answer:
    """A response: status_code, headers (lower-case names), content; json() and text as requests has them."""

    def __init__(self, status_code, headers, content):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self):
        return self.content.decode(errors="replace")

    def json(self):
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    def code(self):
        body = self.json()
        return body.get("code") if isinstance(body, dict) else None

    def __repr__(self):
        return f"{self.status_code} {self.text[:500]}"


class HTTPTransport:
    """Requests through nginx with `requests`, one kept-alive session per transport (per agent)."""

    def __init__(self, base):
        import requests

        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # the requests must reach this nginx, whatever proxy the machine has

    def request(self, method, path, headers, body=None):
        data = None if body is None else json.dumps(body).encode()
        response = self.session.request(method, self.base + path, headers=headers, data=data, timeout=TIMEOUT)
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


class Agent:
    """One agent: its id, its credential, its transport."""

    def __init__(self, transport, credential, agent_id=None, extra_headers=None):
        self.transport = transport
        self.agent_id = agent_id or new_agent_id()
        self.headers = {"Authorization": f"Bearer {credential}", "X-Agent-ID": self.agent_id, "Content-Type": "application/json",
                        **(extra_headers or {})}

    def poll(self):
        return self.transport.request("GET", "/api/training/agent/poll", self.headers)

    def claim(self, job_id):
        return self.transport.request("POST", f"/api/training/agent/claim/{job_id}", self.headers)

    @staticmethod
    def trainer(token):
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def put_metric(self, job_id, token, point):
        return self.transport.request("PUT", f"/api/training/local/{job_id}/metrics", self.trainer(token), point)

    def post_logs(self, job_id, token, lines):
        return self.transport.request("POST", f"/api/training/local/{job_id}/logs", self.trainer(token), {"logs": lines})

    def set_status(self, job_id, token, status, error=None):
        body = {"status": status}
        if error:
            body["error"] = error
        return self.transport.request("PATCH", f"/api/training/local/{job_id}/status", self.trainer(token), body)

    def next_job(self):
        """The poll's job (checked: the contract's shape, no token), or None when the queue is empty."""
        answer = self.poll()
        expect(answer.status_code == 200, lambda: f"{self.agent_id}: poll answered {answer!r}")
        body = answer.json()
        check_poll(body, answer.text)
        return body["job"]

    def take(self, job):
        """Claims `job`: (job_token, the claim's job), or None when another agent was first (409) or it is gone (404)."""
        answer = self.claim(job["id"])
        if answer.status_code in (404, 409):
            return None
        expect(answer.status_code == 200, lambda: f"{self.agent_id}: claim of {job['id']} answered {answer!r}")
        body = answer.json()
        expect(body.get("success") is True and isinstance(body.get("job_token"), str) and body["job_token"], f"claim answer: {answer!r}")
        check_job(body.get("job"), answer.text)
        expect(body["job"]["id"] == job["id"], f"claimed {job['id']}, the answer names {body['job']['id']}")
        return body["job_token"], body["job"]

    def write(self, answer, what):
        expect(answer.status_code == 200, lambda: f"{self.agent_id}: {what} answered {answer!r}")
        body = answer.json()
        expect(isinstance(body, dict) and body.get("success") is True, lambda: f"{self.agent_id}: {what} answered {answer!r}")
        return body

    def train(self, job, token, steps, download_dir=None):
        """What the platform's executor does with a claimed job: loads its data, reports a point per step and its
        log lines, ends it completed. Returns what was sent."""
        record = {"id": job["id"], "claimed": job, "points": [], "logs": [], "dataset": None}
        source, content = job.get("dataset_path"), None
        if isinstance(source, str) and source.startswith("http"):
            try:
                status, headers, content = download(source)
                expect(status == 200, f"download of {source}: {status} {content[:300]!r}")
            except Failure as failure:  # told in the record (the training goes on, so that the rest is checked too)
                print(f"FAILED: {failure}")
                record["dataset"] = {"error": str(failure)}
                content = None
        if content is not None:
            record["dataset"] = {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                                 "content_type": headers.get("content-type"), "etag": headers.get("etag")}
            if download_dir:
                path = os.path.join(download_dir, job["id"] + ".jsonl")
                with open(path, "wb") as file:
                    file.write(content)
                record["dataset"]["path"] = path
        for step in range(1, steps + 1):
            sent = point(step, steps, last=step == steps)
            self.write(self.put_metric(job["id"], token, sent), f"PUT metrics step {step}")
            record["points"].append(sent)
        lines = [f"[2026-01-07 10:00:0{i}] [trainer] [INFO] [train] {self.agent_id} step {i} of {job['id']}" for i in range(1, steps + 1)]
        logged = self.write(self.post_logs(job["id"], token, lines), "POST logs")
        expect(logged.get("logs_appended") == len(lines), f"logs answer: {logged}")
        record["logs"] = lines
        done = self.write(self.set_status(job["id"], token, "completed"), "PATCH status completed")
        expect(done.get("status") == "completed" and isinstance(done.get("updated_at"), str), f"status answer: {done}")
        return record


def point(step, steps, last):
    """The point the agent reports at `step`: every field, but eval_loss and eval_perplexity only at the last step
    (the platform's agent leaves out what is None)."""
    progress = step / steps
    values = {
        "step": step, "epoch": round(progress * 2, 4), "train_loss": 2.5 - 0.3 * step, "eval_loss": 1.75 - 0.01 * step if last else None,
        "learning_rate": 0.0002 * (1 - progress / 2), "grad_norm": 0.75 + 0.1 * step, "gpu_memory_allocated_gb": 21.37,
        "gpu_memory_reserved_gb": 23.5 + step / 8, "gpu_utilization_percent": 97.25, "samples_per_second": 12.3 + step,
        "tokens_per_second": 4096.5 * step, "train_perplexity": 12.18 / step, "eval_perplexity": 5.6 if last else None,
    }
    return {k: v for k, v in values.items() if v is not None}


def check_job(job, text):
    expect(isinstance(job, dict), f"no job object in {text[:500]}")
    expect(JOB_FIELDS <= set(job), lambda: f"the job lacks {sorted(JOB_FIELDS - set(job))}: {text[:500]}")
    expect("job_token" not in job and "token" not in job, f"a job with a token: {text[:500]}")
    if job["dataset_url"] is not None:
        expect(isinstance(job["dataset_url"], str) and job["dataset_url"].startswith("http"), f"dataset_url not absolute: {job['dataset_url']}")
        expect(isinstance(job["dataset_url_expires_at"], str), f"dataset_url without dataset_url_expires_at: {text[:500]}")


def check_poll(body, text):
    expect(isinstance(body, dict) and "job" in body, f"poll answer without job: {text[:500]}")
    expect(isinstance(body.get("poll_interval_seconds"), int) and body["poll_interval_seconds"] > 0, f"poll_interval_seconds: {text[:500]}")
    expect(isinstance(body.get("cancelled"), list), f"poll answer without cancelled: {text[:500]}")
    expect("job_token" not in text, f"a poll answer with a token: {text[:500]}")
    if body["job"] is None:
        expect(body.get("message") == "No pending jobs available", f"poll message: {text[:500]}")
    else:
        check_job(body["job"], text)


def download(url):
    """GET `url` with no header but Host (no credential, no Accept, no User-Agent): (status, headers, bytes)."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        connection.putrequest("GET", parts.path + ("?" + parts.query if parts.query else ""), skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except OSError as error:
        raise Failure(f"download of {url}: {error!r}") from error
    finally:
        connection.close()


class User:
    """The user's own requests (creating, reading and cancelling jobs) with the same credential."""

    def __init__(self, transport, credential):
        self.transport = transport
        self.headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}

    def create_job(self, name, **fields):
        answer = self.transport.request("POST", "/api/training/jobs", self.headers, {"model_name": name, **fields})
        expect(answer.status_code == 201, f"job create: {answer!r}")
        return answer.json()["id"]

    def job(self, job_id):
        answer = self.transport.request("GET", f"/api/training/jobs/{job_id}", self.headers)
        expect(answer.status_code == 200, f"GET job {job_id}: {answer!r}")
        return answer.json()["data"]

    def jobs(self):
        found, offset = [], 0
        while True:
            answer = self.transport.request("GET", f"/api/training/jobs?limit=200&offset={offset}", self.headers)
            expect(answer.status_code == 200, f"job list: {answer!r}")
            page = answer.json()["data"]
            found += page
            offset += len(page)
            if not page or offset >= answer.json()["total"]:
                return found

    def cancel(self, job_id):
        return self.transport.request("POST", f"/api/training/jobs/{job_id}/cancel", self.headers)

    def logs(self, job_id):
        answer = self.transport.request("GET", f"/api/training/local/{job_id}/logs?limit=1000", self.headers)
        expect(answer.status_code == 200, f"logs of {job_id}: {answer!r}")
        return answer.json()["logs"]

    def agents(self):
        answer = self.transport.request("GET", "/api/training/agents", self.headers)
        expect(answer.status_code == 200, f"agent list: {answer!r}")
        return {a["agent_id"]: a for a in answer.json()["agents"]}


def wait_until(what, condition, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        expect(time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# The loop ------------------------------------------------------------------------------------------------------------

def loop(base, credential):
    """The platform's poll loop (without its sleeps), until the queue is empty."""
    agent = Agent(HTTPTransport(base), credential, os.environ.get("FTAPI_AGENT_ID"),
                  {"X-Agent-Hostname": "gpu-box-7", "X-Agent-Platform": "Linux-6.8-x86_64", "X-Agent-Version": "0.2.1"})
    steps = int(os.environ.get("FTAPI_STEPS", "3"))
    records = []
    while True:
        job = agent.next_job()
        if job is None:
            break
        taken = agent.take(job)
        expect(taken is not None, f"the only agent could not claim the job its poll gave: {job['id']}")
        token, claimed = taken
        record = agent.train(claimed, token, steps, os.environ.get("FTAPI_DOWNLOAD_DIR"))
        record["polled"] = job
        records.append(record)
        expect(len(records) <= 100, "the queue never empties")
    print("RESULT " + json.dumps({"agent_id": agent.agent_id, "jobs": records}))
    failed = [r["dataset"]["error"] for r in records if r["dataset"] and "error" in r["dataset"]]
    expect(not failed, lambda: "; ".join(failed))


# The races -----------------------------------------------------------------------------------------------------------

class Claims:
    """Every claim's outcome, from several threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = []  # (job id, agent id, status, code, text)
        self.errors = []

    def add(self, *outcome):
        with self.lock:
            self.outcomes.append(outcome)

    def fail(self, message):
        with self.lock:
            self.errors.append(message)

    def winners(self):
        found = {}
        for job_id, agent_id, status, _, _ in self.outcomes:
            if status == 200:
                found.setdefault(job_id, []).append(agent_id)
        return found

    def losers(self):
        """Problems with the claims that did not win: anything but 409 ALREADY_CLAIMED or INVALID_STATUS naming a status."""
        problems, codes = [], {}
        for job_id, agent_id, status, code, text in self.outcomes:
            if status == 200:
                continue
            codes[f"{status} {code}"] = codes.get(f"{status} {code}", 0) + 1
            if status != 409 or code not in ("ALREADY_CLAIMED", "INVALID_STATUS"):
                problems.append(f"claim of {job_id} by {agent_id}: {status} {text[:300]}")
            elif code == "INVALID_STATUS" and not any(re.search(rf"\b{s}\b", text) for s in STATUSES):
                problems.append(f"an INVALID_STATUS that names no status: {text[:300]}")
        return problems, codes


def racer(agent, start, claims, finish):
    """Polls and claims until the poll has no job; a winner ends its job (its token must work) and polls again."""
    try:
        start.wait()
        while True:
            job = agent.next_job()
            if job is None:
                return
            answer = agent.claim(job["id"])
            claims.add(job["id"], agent.agent_id, answer.status_code, answer.code(), answer.text)
            if answer.status_code == 200:
                token = answer.json()["job_token"]
                if finish:
                    agent.write(agent.set_status(job["id"], token, "completed"), f"PATCH status completed of {job['id']}")
    except Exception as error:  # noqa: BLE001 (reported by the main thread)
        claims.fail(f"{agent.agent_id}: {error!r}")


def run_race(make_transport, credential, agents_count, job_ids, finish=True):
    """`agents_count` agents (each its own transport: make_transport(i)) race for the queue until it is empty.
    Returns (claims, the agents)."""
    claims = Claims()
    agents = [Agent(make_transport(i), credential) for i in range(agents_count)]
    start = threading.Barrier(agents_count)
    threads = [threading.Thread(target=racer, args=(a, start, claims, finish)) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 4)
        expect(not thread.is_alive(), "an agent thread is still running")
    expect(not claims.errors, lambda: "agent threads failed: " + "; ".join(claims.errors[:5]))
    winners = claims.winners()
    wrong = {j: winners.get(j, []) for j in job_ids if len(winners.get(j, [])) != 1}
    expect(not wrong, lambda: f"{len(wrong)} jobs not claimed exactly once: " + ", ".join(f"{j}: {w}" for j, w in list(wrong.items())[:5]))
    stray = set(winners) - set(job_ids)
    expect(not stray, f"claimed jobs that the race did not make: {sorted(stray)[:5]}")
    problems, _ = claims.losers()
    expect(not problems, lambda: "; ".join(problems[:5]))
    return claims, agents


def claim_one(make_transport, credential, user, rounds, claimers):
    """`rounds` times: one new job, `claimers` agents (connected beforehand) claiming it at the same moment.
    Returns the losers' codes."""
    agents = [Agent(make_transport(i), credential) for i in range(claimers)]
    all_codes = {}
    for number in range(rounds):
        job_id = user.create_job(f"claim-one-{number}")
        for agent in agents:  # connected (kept alive) before the race: the claims leave together
            expect(agent.poll().status_code == 200, "poll before the race")
        claims = Claims()
        start = threading.Barrier(claimers)

        def claim(agent):
            try:
                start.wait()
                answer = agent.claim(job_id)
                claims.add(job_id, agent.agent_id, answer.status_code, answer.code(), answer.text)
            except Exception as error:  # noqa: BLE001
                claims.fail(f"{agent.agent_id}: {error!r}")

        threads = [threading.Thread(target=claim, args=(a,)) for a in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT * 2)
        expect(not claims.errors, lambda: "claim threads failed: " + "; ".join(claims.errors[:5]))
        winners = claims.winners().get(job_id, [])
        expect(len(winners) == 1, lambda: f"round {number}: {len(winners)} of {claimers} concurrent claims of {job_id} won: {claims.outcomes}")
        problems, codes = claims.losers()
        expect(not problems, lambda: "; ".join(problems[:5]))
        for code, count in codes.items():
            all_codes[code] = all_codes.get(code, 0) + count
        held = user.job(job_id)
        expect(held["status"] == "running" and held["agent_id"] == winners[0] and held["attempts"] == 1, f"after the race: {held}")
    return all_codes


def race(base, credential, agents_count, jobs_count):
    user = User(HTTPTransport(base), credential)
    job_ids = [user.create_job(f"race-{i}", total_steps=10) for i in range(jobs_count)]
    claims, _ = run_race(lambda _: HTTPTransport(base), credential, agents_count, job_ids)
    winners = claims.winners()
    for job in user.jobs():
        if job["id"] in winners:
            expect(job["status"] == "completed" and job["agent_id"] == winners[job["id"]][0] and job["attempts"] == 1, f"after the race: {job}")
    _, codes = claims.losers()
    print(f"race: {jobs_count} jobs, {agents_count} agents: each job claimed once; the other claims: {codes}")


# Leases --------------------------------------------------------------------------------------------------------------

def attempt_named(line, number):
    return re.search(rf"attempt\D{{0,4}}\b{number}\b", line, re.I) or re.search(rf"\b{number}(st|nd|rd|th)? attempt", line, re.I)


def lost_line(user, job_id, agent_id, number):
    lines = [line for line in user.logs(job_id) if agent_id in line]
    expect(lines, lambda: f"no log line of {job_id} names the lost agent {agent_id}: {user.logs(job_id)}")
    expect(any(attempt_named(line, number) for line in lines), f"no log line says this was attempt {number}: {lines}")


def reassigned(answer, what):
    expect(answer.status_code == 409 and answer.code() == "JOB_REASSIGNED", f"{what} with a lost agent's token: {answer!r}, not 409 JOB_REASSIGNED")


def lease(base, credential, seconds):
    """A claims X, writes, goes silent; P (polls) and W (writes) hold theirs past the lease. X comes back to the queue
    once, is refused to A's token, and B finishes it as attempt 2."""
    http = lambda: HTTPTransport(base)  # noqa: E731
    user = User(http(), credential)
    lost_id, polled_id, written_id = (user.create_job(name, total_steps=3) for name in ("lease-lost", "lease-polled", "lease-written"))
    for job_id in (lost_id, polled_id, written_id):
        job = user.job(job_id)
        expect(job["attempts"] == 0 and job["agent_id"] is None and job["claimed_at"] is None, f"a new job: {job}")
    a, p, w, b = (Agent(http(), credential) for _ in range(4))
    held, a_last_sign = {}, None
    for agent, job_id in ((a, lost_id), (p, polled_id), (w, written_id)):
        taken = agent.take({"id": job_id})
        expect(taken is not None, f"{agent.agent_id} could not claim {job_id}")
        held[job_id] = taken[0]
        agent.write(agent.put_metric(job_id, taken[0], point(1, 3, False)), "the first metric")
        a_last_sign = a_last_sign or time.monotonic()
        job = user.job(job_id)
        expect(job["status"] == "running" and job["agent_id"] == agent.agent_id and job["attempts"] == 1, f"claimed: {job}")
        expect(isinstance(job["claimed_at"], str) and isinstance(job["started_at"], str), f"claimed: {job}")
    # B sees none of them: held jobs are not queued.
    expect(b.next_job() is None, "a held job is in the queue")

    step, requeued_after, began = 1, None, time.monotonic()
    while time.monotonic() - began < max(2.5 * seconds, seconds + 15 if requeued_after is None else 0):
        step += 1
        p.next_job()  # P shows life by polling (what the poll gives is not the point)
        w.write(w.put_metric(written_id, held[written_id], point(step, 1000, False)), "a renewing metric")
        for job_id, agent in ((polled_id, p), (written_id, w)):
            job = user.job(job_id)
            expect(job["status"] == "running" and job["agent_id"] == agent.agent_id and job["attempts"] == 1,
                   f"{time.monotonic() - began:.1f} s into the lease test, a job whose agent shows life every {seconds / 8} s: {job}")
        if requeued_after is None:
            lost = user.job(lost_id)
            if lost["status"] != "running":
                requeued_after = time.monotonic() - a_last_sign
                expect(lost["status"] == "pending", f"the lost agent's job: {lost}")
        time.sleep(seconds / 8)
    expect(requeued_after is not None, f"the silent agent's job was not back in the queue {seconds + 15} s after its last sign of life: "
           f"{user.job(lost_id)}")
    # (The pool may keep its last-seen times to the second.)
    expect(requeued_after >= seconds - 1, f"the job was taken from its agent {requeued_after:.1f} s after its last sign of life (lease {seconds} s)")

    lost = user.job(lost_id)
    expect(lost["status"] == "pending" and lost["agent_id"] is None and lost["attempts"] == 1, f"back in the queue: {lost}")
    lost_line(user, lost_id, a.agent_id, 1)
    token = held[lost_id]
    reassigned(a.put_metric(lost_id, token, point(2, 3, False)), "PUT metrics")
    reassigned(a.post_logs(lost_id, token, ["still here"]), "POST logs")
    reassigned(a.set_status(lost_id, token, "completed"), "PATCH status")
    expect(user.job(lost_id)["status"] == "pending", "a refused write changed the job")
    expect(not any("still here" == line for line in user.logs(lost_id)), "a refused log line was stored")

    # B takes it: the oldest queued job; attempt 2.
    polled = b.next_job()
    expect(polled is not None and polled["id"] == lost_id, f"B's poll: {polled}")
    taken = b.take(polled)
    expect(taken is not None, "B could not claim the requeued job")
    job = user.job(lost_id)
    expect(job["status"] == "running" and job["agent_id"] == b.agent_id and job["attempts"] == 2, f"claimed again: {job}")
    reassigned(a.put_metric(lost_id, token, point(2, 3, False)), "PUT metrics (after B's claim)")
    b.train(taken[1], taken[0], 3)
    job = user.job(lost_id)
    expect(job["status"] == "completed" and job["agent_id"] == b.agent_id and job["attempts"] == 2, f"finished by B: {job}")

    for job_id, agent in ((polled_id, p), (written_id, w)):
        agent.write(agent.set_status(job_id, held[job_id], "completed"), "PATCH status completed")
        job = user.job(job_id)
        expect(job["status"] == "completed" and job["agent_id"] == agent.agent_id and job["attempts"] == 1, f"kept and finished: {job}")
    print(f"lease: back in the queue {requeued_after:.1f} s after the agent's last sign of life (lease {seconds} s)")


def lease_max(base, credential, seconds, attempts):
    """With the pool's FTAPI_AGENT_MAX_ATTEMPTS = `attempts`: one silent agent after the other; the job goes back to the
    queue until the last is lost, and then fails with `agent lost`."""
    http = lambda: HTTPTransport(base)  # noqa: E731
    user = User(http(), credential)
    job_id = user.create_job("lease-max", total_steps=3)
    tokens = []
    for number, agent in enumerate([Agent(http(), credential) for _ in range(attempts)], start=1):
        polled = agent.next_job()
        expect(polled is not None and polled["id"] == job_id, f"attempt {number}: poll gave {polled}")
        taken = agent.take(polled)
        expect(taken is not None, f"attempt {number}: no claim")
        tokens.append(taken[0])
        agent.write(agent.put_metric(job_id, taken[0], point(1, 3, False)), "the first metric")
        expect(user.job(job_id)["attempts"] == number, f"attempt {number}: {user.job(job_id)}")
        final = "pending" if number < attempts else "failed"

        def left_running():
            job = user.job(job_id)
            return job if job["status"] != "running" else None

        job = wait_until(f"attempt {number}'s agent lost ({final})", left_running, seconds + 15)
        expect(job["status"] == final, f"after attempt {number}'s agent was lost: {job}")
        if number < attempts:  # (the contract asks for the line where the job goes back to the queue)
            lost_line(user, job_id, agent.agent_id, number)
        refused = agent.put_metric(job_id, taken[0], point(2, 3, False))
        if number < attempts:
            reassigned(refused, "PUT metrics")
        else:  # the job is failed now: JOB_REASSIGNED or the terminal job's 409
            expect(refused.status_code == 409, f"the last lost agent's PUT metrics: {refused!r}")
    job = user.job(job_id)
    expect(job["status"] == "failed" and job["error_message"] == "agent lost" and job["attempts"] == attempts,
           f"after {attempts} lost agents: {job}")
    expect(isinstance(job["completed_at"], str), f"a failed job without completed_at: {job}")
    third = Agent(http(), credential)
    expect(third.next_job() is None, "a failed job is in the queue")
    answer = third.claim(job_id)
    expect(answer.status_code == 409 and answer.code() == "INVALID_STATUS" and "failed" in answer.text, f"claim of the failed job: {answer!r}")
    print(f"lease-max: failed with 'agent lost' after {attempts} lost agents")


# Cancellation and deletion ---------------------------------------------------------------------------------------------

def cancel(base, credential):
    http = lambda: HTTPTransport(base)  # noqa: E731
    user = User(http(), credential)
    first, second = user.create_job("cancel-held", total_steps=3), user.create_job("delete-agent", total_steps=3)
    a, b = Agent(http(), credential), Agent(http(), credential)

    polled = a.next_job()
    expect(polled is not None and polled["id"] == first, f"the oldest job first: {polled}")
    token, _ = a.take(polled) or (None, None)
    expect(token, "no claim")
    a.write(a.put_metric(first, token, point(1, 3, False)), "the first metric")
    expect(user.agents()[a.agent_id]["job_ids"] == [first], f"agents: {user.agents()}")
    answer = user.cancel(first)
    expect(answer.status_code == 200 and answer.json().get("success") is True, f"cancel: {answer!r}")
    body = a.poll().json()
    expect(first in body["cancelled"], f"the holder's next poll does not list its cancelled job: {body}")
    expect(body["job"] is not None and body["job"]["id"] == second, f"the holder's poll: {body}")
    expect(first not in b.poll().json()["cancelled"], "another agent's poll lists the cancelled job")
    # (Told at the end, so that the rest is checked too.)
    accepted = [f"{what} with the holder's token for its cancelled job: {answer!r}, not 409"
                for what, answer in (("PUT metrics", a.put_metric(first, token, point(2, 3, False))),
                                     ("POST logs", a.post_logs(first, token, ["after the cancel"])),
                                     ("PATCH status", a.set_status(first, token, "completed")))
                if answer.status_code != 409]
    job = user.job(first)
    expect(job["status"] == "cancelled" and job["current_step"] == 1, f"cancelled: {job}")
    expect(user.agents()[a.agent_id]["job_ids"] == [], f"a cancelled job among job_ids: {user.agents()[a.agent_id]}")

    # The agent deleted while it holds a job: the job goes back to the queue.
    token, _ = a.take({"id": second}) or (None, None)
    expect(token, "no claim of the second job")
    expect(user.agents()[a.agent_id]["job_ids"] == [second], f"agents: {user.agents()}")
    deleted = user.transport.request("DELETE", f"/api/training/agents/{a.agent_id}", user.headers)
    expect(deleted.status_code == 200 and deleted.json().get("success") is True, f"DELETE agent: {deleted!r}")
    gone = user.transport.request("GET", f"/api/training/agents/{a.agent_id}", user.headers)
    expect(gone.status_code == 404, f"a deleted agent: {gone!r}")
    expect(a.agent_id not in user.agents(), "a deleted agent is listed")
    job = user.job(second)
    expect(job["status"] == "pending" and job["agent_id"] is None, f"the deleted agent's job: {job}")
    polled = b.next_job()
    expect(polled is not None and polled["id"] == second, f"the deleted agent's job is not queued: {polled}")
    taken = b.take(polled)
    expect(taken is not None, "B could not claim the deleted agent's job")
    refused = a.put_metric(second, token, point(1, 3, False))
    expect(refused.status_code in (401, 409), f"the deleted agent's token after another claim: {refused!r}")
    b.train(taken[1], taken[0], 2)
    expect(user.job(second)["status"] == "completed", "B did not finish the job")
    expect(not accepted, lambda: "; ".join(accepted))
    print("cancel: the holder told, its token refused; a deleted agent's job claimed again")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    base, credential = os.environ.get("FTAPI_URL"), os.environ.get("FTAPI_KEY")
    if not base or not credential or mode not in ("loop", "race", "claim-one", "lease", "lease-max", "cancel"):
        sys.exit(__doc__)
    lease_seconds = float(os.environ.get("FTAPI_LEASE_SECONDS", "2"))
    try:
        if mode == "loop":
            loop(base, credential)
        elif mode == "race":
            race(base, credential, int(sys.argv[2]), int(sys.argv[3]))
        elif mode == "claim-one":
            codes = claim_one(lambda _: HTTPTransport(base), credential, User(HTTPTransport(base), credential), int(sys.argv[2]), int(sys.argv[3]))
            print(f"claim-one: {sys.argv[2]} rounds of {sys.argv[3]} concurrent claims, one winner each; the others: {codes}")
        elif mode == "lease":
            lease(base, credential, lease_seconds)
        elif mode == "lease-max":
            lease_max(base, credential, lease_seconds, int(os.environ.get("FTAPI_MAX_ATTEMPTS", "2")))
        elif mode == "cancel":
            cancel(base, credential)
    except Failure as failure:
        print(f"FAILED: {failure}")
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
