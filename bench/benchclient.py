"""What the Python benchmarks share (standard library only): a kept HTTP connection to nginx, percentiles,
and where the machine's CPU went during a phase."""
import http.client, os

PORT = int(os.environ["BENCH_PORT"])
KEY = os.environ["BENCH_KEY"]


class Client:
    """One kept connection to nginx on 127.0.0.1:BENCH_PORT, opened again once if it broke."""

    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)

    def call(self, method, path, body=None, headers=None):
        """(status, body bytes). Without headers the request carries BENCH_KEY as X-API-Key."""
        h = dict(headers) if headers else {"X-API-Key": KEY}
        data = None if body is None else body.encode()
        if data is not None:
            h["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
                if attempt:
                    raise


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def _role(pid):
    """Which part of the benchmark a process is, or None."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return None
    if pid == os.getpid():
        return "client"
    if comm == "postgres" or comm == "pgbouncer":
        return comm
    if comm == "nginx":
        return "nginx"
    if b"serve" in args and any(a.endswith(b"ftapi") or b"/ftapi" in a for a in args[:1]):
        return "pool"
    return None


def cpu_snapshot():
    """CPU seconds used so far by each part (pool, postgres, pgbouncer, nginx, client) and by the whole machine
    (busy and total), read from /proc. Processes that end between two snapshots are not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    parts = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        role = _role(int(name))
        if role is None:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parts[role] = parts.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    with open("/proc/stat") as f:
        cpu = [int(v) for v in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]
    parts["machine busy"] = (sum(cpu[:8]) - idle) / tick
    parts["machine"] = sum(cpu[:8]) / tick
    return parts


def cpu_report(before, after, units, unit_name):
    """One line: each part's CPU per unit (µs) between two snapshots, and how busy the machine was."""
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    machine = used.pop("machine")
    busy = used.pop("machine busy")
    shown = [f"{k} {used[k] / units * 1e6:,.0f}" for k in ("pool", "postgres", "pgbouncer", "nginx", "client") if used.get(k)]
    others = busy - sum(used.values())
    return (f"CPU µs per {unit_name}: " + ", ".join(shown) + f", anything else {others / units * 1e6:,.0f}; "
            f"machine {busy / machine * 100:.0f}% busy")
