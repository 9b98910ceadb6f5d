#!/usr/bin/env python3
"""Training agents at scale, through nginx (standard library only).

    agents.py run      # one backend: the phases below; one JSON line per phase appended to BENCH_RESULTS
    agents.py table F  # the table of every line of F (all backends of a bench/agents.sh run)

AGENTS simulated agents (distinct X-Agent-ID, agent_<hex>) spread round robin
over the users whose keys are in BENCH_KEYS_FILE (one a line) each poll
GET /api/training/agent/poll once every POLL_INTERVAL seconds, each at its own
point of the second. One asyncio loop, one thread: the requests go out over
CONNECTIONS kept HTTP/1.1 connections to nginx, taken first in first out from
a pool of free ones (an agent is not tied to one connection), so 1,000 agents
need not be 1,000 sockets; a tick whose connection is not free at its time
waits, and that wait is reported (lag) apart from the request's latency (send
to the end of the answer).

An agent is idle or busy (training). A busy agent keeps polling (a poll renews
its lease) and ignores the job it sees; an idle agent that sees a job claims it
(POST /api/training/agent/claim/{id}), and so do RACERS - 1 other agents of the
same user at the same moment, on connections of their own: several idle
agents that saw the same head of the queue. Whoever gets the 200 trains: with
the claim's job_token, PUT /api/training/local/{id}/metrics (one point),
POST .../logs, PATCH .../status completed. The agent that started a race that
someone won is then busy for an exponential time of mean AGENTS / CLAIM_RATE
seconds (every agent starts the run partway through such a time), so claims
run at about CLAIM_RATE from the first second; a race nobody won (the job went
in an earlier one) leaves it idle for its next poll.
Double claims are counted from the answers: a job id that got a 200 for two
claims, over the whole run. Before the agents start, every user gets
QUEUE_DEPTH pending jobs (POST /api/training/jobs); while they run a creator
adds CLAIM_RATE jobs per second, round robin over the users, so queues stay
about that deep and nearly every poll finds a job.

Phases, one after the other on the same pool and data:
  mixed   WARMUP seconds unmeasured (the agents' first polls register them),
          then SECONDS measured: polls, claims, trainer writes, job creation;
  poll    COMPARE_SECONDS: the same polls alone (no claims, no creation);
  stats   COMPARE_SECONDS: GET /api/training/stats instead of each poll, with
          the same keys, the same schedule and the same connections.
Each measured phase reads /proc before and after: the pool's processes
(BENCH_POOL_PID and its children), PostgreSQL's (BENCH_PG_POSTMASTER, the
throwaway server's postmaster: itself, its children and those that ended),
nginx's (BENCH_NGINX_PID and children), this generator's own, and the machine.
"""
import asyncio, collections, json, os, random, subprocess, sys, time, urllib.parse

AGENTS = int(os.environ.get("BENCH_AGENTS", "1000"))
POLL_INTERVAL = float(os.environ.get("BENCH_POLL_INTERVAL", "1"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
WARMUP = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))
COMPARE_SECONDS = float(os.environ.get("BENCH_COMPARE_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "200"))
CLAIM_RATE = float(os.environ.get("BENCH_CLAIM_RATE", "20"))
RACERS = int(os.environ.get("BENCH_RACERS", "3"))
QUEUE_DEPTH = int(os.environ.get("BENCH_QUEUE_DEPTH", "50"))
PHASES = os.environ.get("BENCH_PHASES", "mixed poll stats").split()


# ---------------------------------------------------------------- HTTP client

class Conn(asyncio.Protocol):
    """One kept HTTP/1.1 connection; one request at a time. Answers with Content-Length or chunked."""

    def __init__(self):
        self.buf = bytearray()
        self.waiter = None
        self.transport = None
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        if self.waiter and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data):
        self.buf += data
        if self.waiter is not None:
            self._parse()

    def _parse(self):
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            total = start + int(head[i + 17:j if j >= 0 else len(head)])
            if len(buf) < total:
                return
            body = bytes(buf[start:total])
            del buf[:total]
        elif b"\r\ntransfer-encoding: chunked" in head:
            chunks, pos = [], start
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return
                size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                if size == 0:
                    trailer_end = buf.find(b"\r\n\r\n", line_end)
                    if trailer_end < 0:
                        return
                    pos = trailer_end + 4
                    break
                if len(buf) < line_end + 2 + size + 2:
                    return
                chunks.append(bytes(buf[line_end + 2:line_end + 2 + size]))
                pos = line_end + 2 + size + 2
            body = b"".join(chunks)
            del buf[:pos]
        else:
            body = b""
            del buf[:start]
        waiter, self.waiter = self.waiter, None
        waiter.set_result((status, body))

    async def request(self, data):
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


class Pool:
    """CONNECTIONS kept connections to nginx, handed out first in first out (a request waits when none is free)."""

    def __init__(self, port, size):
        self.port, self.size = port, size
        self.free = collections.deque()
        self.waiting = collections.deque()

    async def open(self):
        for _ in range(self.size):
            self.free.append(await self._connect())

    async def _connect(self):
        _, conn = await asyncio.get_running_loop().create_connection(Conn, "127.0.0.1", self.port)
        return conn

    def _release(self, conn):
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.free.append(conn)

    async def call(self, data):
        """(status, body, seconds waited for a connection, seconds from send to answer); status 0 when the connection broke."""
        asked = time.perf_counter()
        if self.free:
            conn = self.free.popleft()
        else:
            waiter = asyncio.get_running_loop().create_future()
            self.waiting.append(waiter)
            conn = await waiter
        sent = time.perf_counter()
        try:
            if conn.closed:
                conn = await self._connect()
                sent = time.perf_counter()
            status, body = await conn.request(data)
        except (ConnectionError, OSError):
            status, body = 0, b""
            if conn.transport:
                conn.transport.close()
            try:
                conn = await self._connect()
            except OSError:
                pass
        done = time.perf_counter()
        self._release(conn)
        return status, body, sent - asked, done - sent

    def close(self):
        while self.free:
            c = self.free.popleft()
            if c.transport:
                c.transport.close()


def request(method, path, headers, body=None):
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    data = b""
    if body is not None:
        data = json.dumps(body, separators=(",", ":")).encode()
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    elif method in ("POST", "PUT", "PATCH"):
        head.append("Content-Length: 0")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


# ---------------------------------------------------------------- CPU from /proc

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, utime+stime, cutime+cstime) in seconds, and the command's name, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    head, rest = text.rsplit(")", 1)
    fields = rest.split()
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK,
            head.split("(", 1)[1])


def cpu_snapshot(pool_pid, pg_pid, nginx_pid):
    """CPU seconds so far of the pool (master and workers), PostgreSQL (postmaster, its processes, and
    those that ended, which its children's times hold), nginx (master and workers), this process, and the machine."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = _stat(int(name))
            if s:
                stats[int(name)] = s

    def tree(root, with_ended=False):
        if not root or root not in stats:
            return None
        total = stats[root][1] + (stats[root][2] if with_ended else 0)
        return total + sum(s[1] for pid, s in stats.items() if s[0] == root)

    t = os.times()
    with open("/proc/stat") as f:
        cpu = [int(v) for v in f.readline().split()[1:]]
    return {"pool": tree(pool_pid), "postgres": tree(pg_pid, with_ended=True), "nginx": tree(nginx_pid),
            "client": t.user + t.system, "machine_busy": (sum(cpu[:8]) - cpu[3] - cpu[4]) / TICK,
            "machine": sum(cpu[:8]) / TICK, "wall": time.perf_counter(),
            "processes": {pid: (s[3], s[1]) for pid, s in stats.items()}}


def others(before, after, ids, seconds):
    """The busiest processes of the machine between two snapshots that are none of the measured parts, as
    'name pid %' strings: what disturbed a phase (their own CPU: processes that came and went in between, such as
    compiler runs, show in the 'other' figure only)."""
    mine = {os.getpid()} | {pid for pid in ids if pid}
    pb, pa = before["processes"], after["processes"]
    # Children of the measured parts are theirs too.
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = _stat(int(name))
            if s:
                parents[int(name)] = s[0]
    used = []
    for pid, (comm, total) in pa.items():
        if pid in mine or parents.get(pid) in mine:
            continue
        d = total - pb.get(pid, (comm, 0.0))[1]
        if d > 0.02 * seconds:
            used.append((d, f"{comm} {pid} {d / seconds * 100:.0f} %"))
    return [text for _, text in sorted(used, reverse=True)[:4]]


def wal_position():
    """PostgreSQL's WAL insert position in bytes (DATABASE_URL, through psql with the password in its environment,
    not on its command line), or None on SQLite or when it cannot be read."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return None
    u = urllib.parse.urlsplit(url)
    env = dict(os.environ, PGHOST=u.hostname or "", PGPORT=str(u.port or 5432), PGUSER=urllib.parse.unquote(u.username or ""),
               PGPASSWORD=urllib.parse.unquote(u.password or ""), PGDATABASE=u.path.lstrip("/"))
    try:
        out = subprocess.run(["psql", "-XAtc", "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"], env=env,
                             capture_output=True, text=True, timeout=10)
        return int(float(out.stdout.strip()))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def cpu_delta(before, after):
    return {k: (after[k] - before[k]) if after.get(k) is not None and before.get(k) is not None else None
            for k in after if k != "processes"}


# ---------------------------------------------------------------- the agents

class Agent:
    __slots__ = ("index", "agent_id", "user", "key", "poll", "offset", "busy_until")


class Phase:
    def __init__(self, name, start, end):
        self.name, self.start, self.end = name, start, end
        self.latencies, self.lags, self.errors = [], [], {}
        self.polls = self.polls_with_job = self.requests = 0
        self.claim_attempts = self.claims_ok = self.races = self.races_won = 0
        self.claim_answers = {}
        self.claim_latencies, self.write_latencies = [], []
        self.writes_ok = self.write_errors = self.created = 0

    def within(self, t):
        return self.start <= t < self.end


class Bench:
    def __init__(self, keys, port):
        self.port = port
        self.keys = keys
        self.users = [[] for _ in keys]
        self.agents = []
        rng = random.Random(7)
        mean_busy = max(0.0, AGENTS / CLAIM_RATE - POLL_INTERVAL / 2) if CLAIM_RATE > 0 else float("inf")
        for i in range(AGENTS):
            a = Agent()
            a.index, a.user = i, i % len(keys)
            a.agent_id = f"agent_{rng.getrandbits(64):016x}{i:04x}"
            a.key = keys[a.user]
            a.poll = request("GET", "/api/training/agent/poll", {
                "Authorization": f"Bearer {a.key}", "X-Agent-ID": a.agent_id, "X-Agent-Hostname": f"gpu-{i:04d}.bench",
                "X-Agent-Platform": "linux", "X-Agent-Version": "1.0.0"})
            a.offset = rng.random() * POLL_INTERVAL
            self.agents.append(a)
            self.users[a.user].append(a)
        self.mean_busy = mean_busy
        self.rng = rng
        self.stats_requests = [request("GET", "/api/training/stats", {"Authorization": f"Bearer {k}"}) for k in keys]
        self.claimed = {}  # job id -> agent ids that got a 200 for it
        self.phase = None
        self.tasks = set()

    def _busy_time(self, rng=random):
        """A training's length: exponential of mean mean_busy (an agent that starts the run partway through one has an
        exponential remainder too, so claims run at about CLAIM_RATE from the first second)."""
        if self.mean_busy == float("inf"):
            return self.mean_busy
        return rng.expovariate(1 / self.mean_busy) if self.mean_busy > 0 else 0.0

    def _spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _error(self, phase, what, status, body=b""):
        code = ""
        if body[:1] == b"{":
            try:
                code = json.loads(body).get("code") or ""
            except ValueError:
                pass
        key = f"{what} {status}{' ' + code if code else ''}"
        phase.errors[key] = phase.errors.get(key, 0) + 1

    async def create_jobs(self, count, concurrency=16):
        """count jobs, round robin over the users, concurrency at a time."""
        models = ["llama-3-8b", "mistral-7b", "qwen2-7b"]
        bodies = [request("POST", "/api/training/jobs", {"Authorization": f"Bearer {self.keys[i % len(self.keys)]}"},
                          {"model_name": models[i % 3], "config": {"learning_rate": 2e-4, "lora_r": 16}, "total_epochs": 3,
                           "total_steps": 1000}) for i in range(count)]
        failed = 0

        async def run(part):
            nonlocal failed
            for b in part:
                status, body, _, _ = await self.pool.call(b)
                if status != 201:
                    failed += 1
                    if failed == 1:
                        print(f"  job creation failed: {status} {body[:200]!r}", file=sys.stderr)
        await asyncio.gather(*(run(bodies[i::concurrency]) for i in range(concurrency)))
        return failed

    async def creator(self, end):
        """CLAIM_RATE jobs a second until end, round robin over the users (keeps the queues about as deep)."""
        if CLAIM_RATE <= 0:
            return
        i = 0
        t = time.perf_counter()
        while t < end:
            await asyncio.sleep(max(0.0, t - time.perf_counter()))
            b = request("POST", "/api/training/jobs", {"Authorization": f"Bearer {self.keys[i % len(self.keys)]}"},
                        {"model_name": "llama-3-8b", "config": {"learning_rate": 2e-4}, "total_epochs": 3, "total_steps": 1000})
            self._spawn(self._create(b))
            i += 1
            t += 1 / CLAIM_RATE

    async def _create(self, b):
        status, body, _, _ = await self.pool.call(b)
        phase = self.phase
        if phase and phase.within(time.perf_counter()):
            if status == 201:
                phase.created += 1
            else:
                self._error(phase, "create", status, body)

    async def tick(self, agent, due, mode):
        if mode == "stats":
            status, body, lag, latency = await self.pool.call(self.stats_requests[agent.user])
        else:
            status, body, lag, latency = await self.pool.call(agent.poll)
        now = time.perf_counter()
        phase = self.phase
        measured = phase is not None and phase.within(now)
        if measured:
            phase.requests += 1
            phase.latencies.append(latency)
            phase.lags.append(now - latency - due)  # from the tick's time to its send: waits for the loop and for a free connection
            if mode != "stats":
                phase.polls += 1
        if status != 200:
            if measured:
                self._error(phase, "stats" if mode == "stats" else "poll", status, body)
            return
        if mode == "stats":
            return
        if b'"job":null' in body or b'"job": null' in body:
            return
        if measured:
            phase.polls_with_job += 1
        if mode == "mixed" and now >= agent.busy_until:
            # Only a claim needs the answer read (the generator stays lean).
            job = json.loads(body).get("job")
            if job:
                await self.race(agent, job["id"])

    async def race(self, agent, job_id):
        """The agent and RACERS - 1 others of its user claim job_id at once; the winner trains."""
        others = [a for a in random.sample(self.users[agent.user], min(RACERS + 1, len(self.users[agent.user]))) if a is not agent]
        racers = [agent] + others[:RACERS - 1]
        path = f"/api/training/agent/claim/{job_id}"
        answers = await asyncio.gather(*(self.pool.call(request("POST", path, {"Authorization": f"Bearer {a.key}", "X-Agent-ID": a.agent_id}))
                                         for a in racers))
        phase = self.phase
        measured = phase is not None and phase.within(time.perf_counter())
        winner, token = None, None
        for a, (status, body, _, latency) in zip(racers, answers):
            if measured:
                phase.claim_attempts += 1
                phase.claim_latencies.append(latency)
            if status == 200:
                d = json.loads(body)
                self.claimed.setdefault(job_id, []).append(a.agent_id)
                if d.get("job", {}).get("id") != job_id or not d.get("job_token"):
                    if measured:
                        self._error(phase, "claim 200 without its job or token", status)
                if winner is None:
                    winner, token = a, d.get("job_token")
                if measured:
                    phase.claims_ok += 1
            elif measured:
                code = ""
                try:
                    code = json.loads(body).get("code") or ""
                except ValueError:
                    pass
                k = f"{status} {code}".strip()
                phase.claim_answers[k] = phase.claim_answers.get(k, 0) + 1
        if measured:
            phase.races += 1
            phase.races_won += winner is not None
        if winner is None or not token:
            return
        # The idle agent that started the race is busy from now on, whichever racer won (the others stand for
        # agents that were idle too): claims go on at about CLAIM_RATE.
        agent.busy_until = time.perf_counter() + self._busy_time()
        auth = {"Authorization": f"Bearer {token}"}
        point = {"step": 100, "epoch": 1, "train_loss": 1.234, "eval_loss": 1.301, "learning_rate": 2e-4, "grad_norm": 0.8,
                 "gpu_memory_allocated_gb": 14.2, "gpu_memory_reserved_gb": 16.0, "gpu_utilization_percent": 97.0,
                 "samples_per_second": 41.5, "tokens_per_second": 21250.0, "train_perplexity": 3.43, "eval_perplexity": 3.67}
        writes = [("metrics", request("PUT", f"/api/training/local/{job_id}/metrics", auth, point)),
                  ("logs", request("POST", f"/api/training/local/{job_id}/logs", auth,
                                   {"logs": [f"[2026-12-07 10:00:0{s}] [trainer] [INFO] [train] step {s * 50} loss 1.2{s}" for s in range(3)]})),
                  ("status", request("PATCH", f"/api/training/local/{job_id}/status", auth, {"status": "completed"}))]
        for what, data in writes:
            status, body, _, latency = await self.pool.call(data)
            phase = self.phase
            if phase is not None and phase.within(time.perf_counter()):
                phase.write_latencies.append(latency)
                if status == 200:
                    phase.writes_ok += 1
                else:
                    phase.write_errors += 1
                    self._error(phase, what, status, body)

    async def schedule(self, mode, start, end):
        """Every agent's tick due in [start, end), each at its offset within the poll interval."""
        order = sorted(self.agents, key=lambda a: a.offset)
        base = start
        while base < end:
            for a in order:
                due = base + a.offset
                if due >= end:
                    break
                wait = due - time.perf_counter()
                if wait > 0.002:
                    await asyncio.sleep(wait)
                self._spawn(self.tick(a, due, mode))
            base += POLL_INTERVAL

    async def measured(self, name, mode, lead, seconds, ids, creator=False):
        """Runs mode from now for lead + seconds, measuring the last seconds; returns the phase's record."""
        t0 = time.perf_counter() + 0.05
        start, end = t0 + lead, t0 + lead + seconds
        phase = Phase(name, start, end)
        self.phase = phase
        if creator:
            self._spawn(self.creator(end))

        async def snap_at(t):
            await asyncio.sleep(max(0.0, t - time.perf_counter()))
            snap = cpu_snapshot(*ids)
            snap["wal"] = wal_position()
            return snap
        before_task = asyncio.ensure_future(snap_at(start))
        await self.schedule(mode, t0, end)
        before = await before_task
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        after = cpu_snapshot(*ids)
        after["wal"] = wal_position()
        while self.tasks:
            await asyncio.gather(*list(self.tasks))
        self.phase = None
        record = self.record(phase, cpu_delta(before, after), seconds)
        record["others"] = others(before, after, ids, seconds)
        return record

    def record(self, p, cpu, seconds):
        doubles = sum(1 for ids in self.claimed.values() if len(ids) > 1)
        r = {"phase": p.name, "seconds": seconds, "agents": AGENTS, "offered": AGENTS / POLL_INTERVAL,
             "requests": p.requests, "polls": p.polls, "rate": p.requests / seconds,
             "p50_ms": pct(p.latencies, 50) * 1e3, "p99_ms": pct(p.latencies, 99) * 1e3, "max_ms": max(p.latencies or [0]) * 1e3,
             "lag_p99_ms": pct(p.lags, 99) * 1e3, "with_job": p.polls_with_job / p.polls if p.polls else None,
             "claims_ok": p.claims_ok, "claims_per_s": p.claims_ok / seconds, "claim_attempts": p.claim_attempts,
             "races": p.races, "races_won": p.races_won, "claim_answers": p.claim_answers,
             "claim_p50_ms": pct(p.claim_latencies, 50) * 1e3, "claim_p99_ms": pct(p.claim_latencies, 99) * 1e3,
             "write_p50_ms": pct(p.write_latencies, 50) * 1e3, "write_p99_ms": pct(p.write_latencies, 99) * 1e3,
             "writes_ok": p.writes_ok, "write_errors": p.write_errors, "created": p.created, "errors": p.errors,
             "double_claims": doubles, "claimed_jobs": len(self.claimed)}
        every = p.requests + p.claim_attempts + p.writes_ok + p.write_errors + p.created
        r["all_requests"] = every
        for part in ("pool", "postgres", "nginx"):
            used = cpu.get(part)
            r[f"{part}_us_per_request"] = used / p.requests * 1e6 if used is not None and p.requests else None
            r[f"{part}_us_per_any_request"] = used / every * 1e6 if used is not None and every else None
            r[f"{part}_cpu_pct"] = used / seconds * 100 if used is not None else None
        r["wal_bytes_per_request"] = cpu["wal"] / p.requests if cpu.get("wal") is not None and p.requests else None
        r["client_cpu_pct"] = cpu["client"] / seconds * 100
        # Whatever else ran on the machine meanwhile (another build, tests): the figures above are worth less when it is high.
        parts = sum(cpu[k] or 0.0 for k in ("pool", "postgres", "nginx", "client"))
        r["other_cpu_pct"] = (cpu["machine_busy"] - parts) / seconds * 100
        r["client_us_per_request"] = cpu["client"] / every * 1e6 if every else None
        r["machine_busy_pct"] = cpu["machine_busy"] / cpu["machine"] * 100 if cpu["machine"] else None
        return r

    async def main(self, ids):
        self.pool = Pool(self.port, CONNECTIONS)
        await self.pool.open()
        if QUEUE_DEPTH and ("mixed" in PHASES or "poll" in PHASES):
            t = time.perf_counter()
            failed = await self.create_jobs(QUEUE_DEPTH * len(self.keys))
            print(f"  {QUEUE_DEPTH * len(self.keys)} pending jobs created ({QUEUE_DEPTH} per user) in {time.perf_counter() - t:.1f} s"
                  + (f", {failed} failed" if failed else ""), flush=True)
        records = []
        for name in PHASES:
            if name == "mixed":
                now = time.perf_counter()
                for a in self.agents:
                    a.busy_until = now + self._busy_time(self.rng)
                r = await self.measured("mixed", "mixed", WARMUP, SECONDS, ids, creator=True)
            elif name == "poll":
                r = await self.measured("poll", "poll", 1.0, COMPARE_SECONDS, ids)
            elif name == "stats":
                r = await self.measured("stats", "stats", 1.0, COMPARE_SECONDS, ids)
            else:
                raise SystemExit(f"unknown phase {name} (mixed, poll, stats)")
            print_phase(r)
            records.append(r)
        self.pool.close()
        return records


# ---------------------------------------------------------------- output

def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def print_phase(r):
    what = {"mixed": "polls with claims and trainer writes", "poll": "polls alone", "stats": "GET /api/training/stats"}[r["phase"]]
    print(f"{r['phase']} ({what}, {r['seconds']:.0f} s measured): {r['rate']:,.0f} req/s of {r['offered']:,.0f} offered, "
          f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.1f} ms, tick lag p99 {r['lag_p99_ms']:.1f} ms")
    if r["phase"] != "stats":
        print(f"  polls that found a job: {fmt(r['with_job'] and r['with_job'] * 100, '.1f')} %")
    if r["phase"] == "mixed":
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["claim_answers"].items())) or "none"
        print(f"  claims: {r['claims_ok']} won ({r['claims_per_s']:.1f}/s) of {r['claim_attempts']} claim requests in {r['races']} races "
              f"({r['races_won']} won by one agent); the others answered {answers}; claim p50 {r['claim_p50_ms']:.2f} ms, "
              f"p99 {r['claim_p99_ms']:.2f} ms")
        print(f"  trainer writes: {r['writes_ok']} ok, {r['write_errors']} failed, p50 {r['write_p50_ms']:.2f} ms, p99 {r['write_p99_ms']:.2f} ms; "
              f"jobs created meanwhile: {r['created']}")
        print(f"  double claims (a job id two claims got a 200 for), whole run so far: {r['double_claims']} of {r['claimed_jobs']} claimed jobs")
    if r["errors"]:
        print("  errors: " + ", ".join(f"{k} ×{v}" for k, v in sorted(r["errors"].items())))
    per = "poll (all of the phase's work)" if r["phase"] == "mixed" else "request"
    print(f"  CPU µs per {per}: pool {fmt(r['pool_us_per_request'], ',.0f')}, PostgreSQL {fmt(r['postgres_us_per_request'], ',.0f')}, "
          f"nginx {fmt(r['nginx_us_per_request'], ',.0f')}; generator {r['client_cpu_pct']:.0f} % of a core "
          f"({fmt(r['client_us_per_request'], ',.0f')} µs per request sent); machine {fmt(r['machine_busy_pct'], '.0f')} % busy (all {os.cpu_count()} cores), "
          f"of which {r['other_cpu_pct']:.0f} % of a core none of these")
    if r.get("others"):
        print("  busiest other processes (% of a core): " + ", ".join(r["others"]))
    if r["wal_bytes_per_request"] is not None:
        print(f"  PostgreSQL WAL per {per}: {r['wal_bytes_per_request']:,.0f} bytes")
    if r["phase"] == "mixed":
        print(f"  per request of any kind ({r['all_requests']:,}): pool {fmt(r['pool_us_per_any_request'], ',.0f')}, "
              f"PostgreSQL {fmt(r['postgres_us_per_any_request'], ',.0f')}")
    sys.stdout.flush()


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if not rows:
        return
    head = ("backend", "phase", "req/s", "offered", "p50 ms", "p99 ms", "lag p99", "claims/s", "double", "pool µs", "PG µs",
            "nginx µs", "WAL B", "gen %core", "other %core", "machine %")
    lines = [head]
    for r in rows:
        lines.append((r["backend"], r["phase"], f"{r['rate']:,.0f}", f"{r['offered']:,.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                      f"{r['lag_p99_ms']:.1f}", f"{r['claims_per_s']:.1f}" if r["phase"] == "mixed" else "-",
                      str(r["double_claims"]) if r["phase"] == "mixed" else "-",
                      fmt(r["pool_us_per_request"], ",.0f"), fmt(r["postgres_us_per_request"], ",.0f"),
                      fmt(r["nginx_us_per_request"], ",.0f"), fmt(r.get("wal_bytes_per_request"), ",.0f"), f"{r['client_cpu_pct']:.0f}",
                      f"{r.get('other_cpu_pct', 0):.0f}", fmt(r["machine_busy_pct"], ".0f")))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("| " + " | ".join("-" * (w - 1) + (":" if i > 1 else "-") for i, w in enumerate(widths)) + " |")
    for l in lines[1:]:
        print("| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths))) + " |")
    print("\nCPU µs and WAL bytes: per measured request of the phase (mixed: per poll, with the claims, trainer writes and job "
          "creation of the phase on top); gen = this load generator (% of one core); other = the machine's busy time that is "
          "none of the pool, PostgreSQL, nginx and the generator (% of one core); machine = busy share of all "
          f"{os.cpu_count()} cores.")
    by = {}
    for r in rows:
        by.setdefault(r["backend"], {})[r["phase"]] = r
    for backend, phases in by.items():
        p, s = phases.get("poll"), phases.get("stats")
        if p and s and p["pool_us_per_request"] and s["pool_us_per_request"]:
            pg = ""
            if p["postgres_us_per_request"] is not None and s["postgres_us_per_request"]:
                pg = (f", PostgreSQL {p['postgres_us_per_request']:,.0f} µs against {s['postgres_us_per_request']:,.0f} µs "
                      f"({p['postgres_us_per_request'] / s['postgres_us_per_request']:.1f}×)")
            print(f"{backend}: a poll costs the pool {p['pool_us_per_request']:,.0f} µs against a stats request's "
                  f"{s['pool_us_per_request']:,.0f} µs ({p['pool_us_per_request'] / s['pool_us_per_request']:.1f}×){pg}")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "table":
        table(sys.argv[2])
        return
    keys = [l.strip() for l in open(os.environ["BENCH_KEYS_FILE"]) if l.strip()]
    ids = tuple(int(os.environ[v]) if os.environ.get(v) else None for v in ("BENCH_POOL_PID", "BENCH_PG_POSTMASTER", "BENCH_NGINX_PID"))
    print(f"{AGENTS} agents of {len(keys)} users, one poll each per {POLL_INTERVAL:g} s, over {CONNECTIONS} kept connections; "
          f"claims at about {CLAIM_RATE:g}/s, {RACERS} agents racing for each; {QUEUE_DEPTH} pending jobs per user to begin with")
    bench = Bench(keys, int(os.environ["BENCH_PORT"]))
    records = asyncio.run(bench.main(ids))
    out = os.environ.get("BENCH_RESULTS")
    if out:
        with open(out, "a") as f:
            for r in records:
                r["backend"] = os.environ.get("BENCH_BACKEND", "?")
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
