#!/usr/bin/env python3
"""Dashboard benchmark (standard library only).

seed DB USER: fills a migrated database with BENCH_USER_JOBS jobs (10,000)
  for USER, created over the last 30 days with the peers' status mix, start
  and end times, steps and metrics counts, plus BENCH_OTHER_JOBS (90,000)
  jobs of 999 other users over the last year, and datasets for everyone.
seed-sql SCHEMA USER: the same rows as COPY statements for psql, into the
  PostgreSQL schema SCHEMA.
load: GET /api/analytics/dashboard through nginx from CLIENTS clients for
  BENCH_READ_SECONDS each, for the default 30-day range and a 366-day one:
  p50/p99.
"""
import http.client, os, random, sqlite3, sys, threading, time, uuid

DAY_MS = 86_400_000


def rows_for(user):
    rnd = random.Random(20240601)
    now = int(time.time() * 1000)
    statuses = [("pending", 10), ("running", 5), ("completed", 65), ("failed", 12), ("cancelled", 8)]
    names, weights = zip(*statuses)
    models = ["meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.3", "Qwen/Qwen2.5-7B", "google/gemma-2-9b"]
    others = [str(uuid.UUID(int=rnd.getrandbits(128))) for _ in range(999)]

    def job(owner, span_days):
        created = now - rnd.randrange(span_days * DAY_MS)
        status = rnd.choices(names, weights)[0]
        started = created + rnd.randrange(1, 600_000) if status != "pending" else None
        completed = started + rnd.randrange(60_000, 6 * 3_600_000) if status in ("completed", "failed", "cancelled") else None
        steps = rnd.randrange(0, 5000) if started else 0
        return (str(uuid.UUID(int=rnd.getrandbits(128))), owner, rnd.choice(models), status, steps,
                "CUDA out of memory" if status == "failed" else None, created, completed or started or created,
                started, completed, steps // 10)

    rows = [job(user, 30) for _ in range(int(os.environ.get("BENCH_USER_JOBS", "10000")))]
    rows += [job(rnd.choice(others), 365) for _ in range(int(os.environ.get("BENCH_OTHER_JOBS", "90000")))]
    datasets = []
    for owner in [user] * 50 + others * 5:
        dataset_id = str(uuid.UUID(int=rnd.getrandbits(128)))
        datasets.append((dataset_id, owner, "ds-" + dataset_id, rnd.choice(["chatml", "sharegpt", "alpaca", "dpo", "text"]),
                         rnd.randrange(1000, 10 ** 8), rnd.randrange(10, 100_000), "0" * 64, "datasets/" + dataset_id,
                         now - rnd.randrange(30 * DAY_MS)))
    return rows, datasets


JOB_COLUMNS = ("id", "user_id", "model_name", "status", "current_step", "error_message", "created_at", "updated_at",
               "started_at", "completed_at", "metrics_points")
DATASET_COLUMNS = ("id", "user_id", "name", "format", "size_bytes", "total_examples", "sha256", "file_path", "created_at")


def seed(path, user):
    rows, datasets = rows_for(user)
    db = sqlite3.connect(path, timeout=30)
    db.executemany(f"INSERT INTO training_jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join('?' * len(JOB_COLUMNS))})", rows)
    db.executemany(f"INSERT INTO datasets ({', '.join(DATASET_COLUMNS)}) VALUES ({', '.join('?' * len(DATASET_COLUMNS))})", datasets)
    db.commit()
    print(f"seeded {len(rows)} jobs, {os.environ.get('BENCH_USER_JOBS', '10000')} of them the measured user's, and {len(datasets)} datasets")


def seed_sql(schema, user):
    rows, datasets = rows_for(user)
    timestamps = {"created_at", "updated_at", "started_at", "completed_at"}

    def field(name, value):
        if value is None:
            return "\\N"
        if name in timestamps:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value // 1000)) + ".%03d+00" % (value % 1000)
        return str(value)

    out = sys.stdout
    out.write(f"SET search_path TO {schema};\n")
    for table, columns, values in (("training_jobs", JOB_COLUMNS, rows), ("datasets", DATASET_COLUMNS, datasets)):
        out.write(f"COPY {table} ({', '.join(columns)}) FROM STDIN;\n")
        for row in values:
            out.write("\t".join(field(name, value) for name, value in zip(columns, row)) + "\n")
        out.write("\\.\n")
    out.write("ANALYZE;\n")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def load():
    port, key = int(os.environ["BENCH_PORT"]), os.environ["BENCH_KEY"]
    seconds = float(os.environ.get("BENCH_READ_SECONDS", "10"))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    year_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 366 * 86400))
    for path, label in [("/api/analytics/dashboard", "default 30 days"), (f"/api/analytics/dashboard?from={year_ago}&to={today}", "366 days")]:
        for clients in (1, 4):
            latencies, errors, lock = [], [0], threading.Lock()
            stop = time.perf_counter() + seconds

            def run():
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                while time.perf_counter() < stop:
                    t = time.perf_counter()
                    conn.request("GET", path, headers={"X-API-Key": key})
                    r = conn.getresponse()
                    r.read()
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        if r.status != 200:
                            errors[0] += 1

            threads = [threading.Thread(target=run) for _ in range(clients)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(f"dashboard {label}, {clients} client(s): {len(latencies)} requests, p50 {pct(latencies, 50) * 1000:.2f} ms, "
                  f"p99 {pct(latencies, 99) * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms, errors {errors[0]}")


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "seed-sql":
        seed_sql(sys.argv[2], sys.argv[3])
    else:
        load()
