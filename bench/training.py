#!/usr/bin/env python3
"""Training benchmark through nginx (standard library only).

1. Creates JOBS jobs for one user, then ingests POINTS points into each, in
   batches of BATCH, from CONCURRENCY threads at once (each thread owns its
   jobs): points/s and per-batch latency.
2. Polls GET /api/training/jobs/:id/metrics?since_step= (the UI's incremental
   poll) and GET /api/training/metrics/aggregate: p50/p99.
"""
import json, os, random, threading, time

from benchclient import Client, cpu_report, cpu_snapshot, pct

JOBS = int(os.environ.get("BENCH_TRAINING_JOBS", "1000"))
POINTS = int(os.environ.get("BENCH_POINTS_PER_JOB", "1000"))
BATCH = int(os.environ.get("BENCH_BATCH", "100"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))
READ_SECONDS = float(os.environ.get("BENCH_READ_SECONDS", "10"))


def main():
    c = Client()
    jobs = []
    for _ in range(JOBS):
        status, body = c.call("POST", "/api/training/jobs", json.dumps({"model_name": random.choice(["llama", "mistral", "qwen"])}))
        assert status == 201, (status, body)
        d = json.loads(body)
        jobs.append((d["id"], d["data"]["job_token"]))

    latencies, errors, lock = [], [0], threading.Lock()

    def ingest(owned):
        client = Client()
        for job_id, token in owned:
            for start in range(0, POINTS, BATCH):
                pts = [{"step": s, "epoch": s / POINTS, "train_loss": 2.0 / (1 + s / 100), "eval_loss": 2.1 / (1 + s / 100),
                        "learning_rate": 2e-4, "grad_norm": 1.0, "samples_per_second": 40.0 + s % 7,
                        "tokens_per_second": 20000.0} for s in range(start, min(POINTS, start + BATCH))]
                body = json.dumps({"metrics": pts})
                t = time.perf_counter()
                status, _ = client.call("POST", f"/api/training/jobs/{job_id}/metrics", body, {"Authorization": f"Bearer {token}"})
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if status != 200:
                        errors[0] += 1

    groups = [jobs[i::CONCURRENCY] for i in range(CONCURRENCY)]
    threads = [threading.Thread(target=ingest, args=(g,)) for g in groups]
    # SQLite's WAL, watched during the ingest: checkpoints that never reach its end let it grow without bound.
    wal_path, wal_peak, ingesting = os.environ.get("BENCH_WAL_PATH"), [0], [True]

    def watch_wal():
        while ingesting[0]:
            try:
                wal_peak[0] = max(wal_peak[0], os.stat(wal_path).st_size)
            except OSError:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_wal) if wal_path else None
    cpu_before = cpu_snapshot()
    t0 = time.perf_counter()
    if watcher: watcher.start()
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.perf_counter() - t0
    cpu_after = cpu_snapshot()
    ingesting[0] = False
    if watcher: watcher.join()
    total = JOBS * POINTS
    print(f"ingest: {total} points in {len(latencies)} batches of {BATCH} from {CONCURRENCY} concurrent jobs: "
          f"{total / elapsed:,.0f} points/s, batch p50 {pct(latencies, 50) * 1000:.1f} ms, p99 {pct(latencies, 99) * 1000:.1f} ms, errors {errors[0]}")
    print("  " + cpu_report(cpu_before, cpu_after, len(latencies), "batch"))
    if watcher:
        print(f"  SQLite WAL during the ingest: peak {wal_peak[0] / 1048576:.0f} MiB")

    def read_load(make_path, label, threads_count=4):
        lat, errs = [], [0]
        stop = time.perf_counter() + READ_SECONDS

        def run():
            client = Client()
            while time.perf_counter() < stop:
                t = time.perf_counter()
                status, _ = client.call("GET", make_path())
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)
                    if status != 200:
                        errs[0] += 1
        ts = [threading.Thread(target=run) for _ in range(threads_count)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(f"{label}: {len(lat)} requests from {threads_count} clients, p50 {pct(lat, 50) * 1000:.2f} ms, "
              f"p99 {pct(lat, 99) * 1000:.2f} ms, errors {errs[0]}")

    read_load(lambda: f"/api/training/jobs/{random.choice(jobs)[0]}/metrics?since_step={POINTS - 10}", "metrics poll (since_step)")
    read_load(lambda: "/api/training/metrics/aggregate", "aggregate")
    read_load(lambda: "/api/training/metrics/aggregate?group_by=model_name", "aggregate group_by=model_name")


if __name__ == "__main__":
    main()
