#!/usr/bin/env python3
"""FineTune Lab trainers at training rates, through nginx (standard library only).

TRAINERS trainers each register a job (POST /api/training/local/jobs), then once
per second post a POINTS-point batch with their job token and LOG_LINES log lines,
for SECONDS seconds: first through FineTune Lab's POST /api/training/local/metrics,
then, in the same run, through the contract's POST /api/training/jobs/:id/metrics.
Reports points/s against the offered rate, and batch and log-post latencies
(after WARMUP seconds of the same load that are not measured).
"""
import json, os, random, threading, time

from benchclient import KEY, Client, pct

TRAINERS = int(os.environ.get("BENCH_TRAINERS", "100"))
POINTS = int(os.environ.get("BENCH_POINTS_PER_BATCH", "100"))
LOG_LINES = int(os.environ.get("BENCH_LOG_LINES", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
# Seconds each route runs before it is measured: connections, threads and caches warm up.
WARMUP = float(os.environ.get("BENCH_WARMUP_SECONDS", "3"))


def register(client, name):
    status, body = client.call("POST", "/api/training/local/jobs", json.dumps({"job_id": name, "model_name": "llama-3-8b", "status": "running"}),
                               {"X-API-Key": KEY})
    assert status == 200, (status, body)
    answer = json.loads(body)
    return answer["id"], answer["job_token"]


def phase(label, route):
    c = Client()
    run = f"{route}-{int(time.time())}"
    jobs = [register(c, f"{run}-{i:03d}") for i in range(TRAINERS)]
    batches, logs, errors, lock = [], [], [0], threading.Lock()
    begin = time.perf_counter() + 0.5
    start = begin + WARMUP
    end = start + SECONDS

    def trainer(index, job_id, token):
        client = Client()
        auth = {"Authorization": f"Bearer {token}"}
        # Trainers don't tick in step: each starts at its own point of the second.
        tick = begin + random.random()
        step = 0
        while tick < end:
            pause = tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            points = [{"step": s, "epoch": s / 1000, "loss": 2.0 / (1 + s / 100), "eval_loss": 2.1 / (1 + s / 100), "learning_rate": 2e-4,
                       "grad_norm": 1.0, "samples_per_second": 40.0, "tokens_per_second": 20000.0} for s in range(step, step + POINTS)]
            step += POINTS
            if route == "local":
                path, body = "/api/training/local/metrics", json.dumps({"job_id": f"{run}-{index:03d}", "metrics": points})
            else:
                for p in points:
                    p["train_loss"] = p.pop("loss")
                path, body = f"/api/training/jobs/{job_id}/metrics", json.dumps({"metrics": points})
            t = time.perf_counter()
            status, _ = client.call("POST", path, body, auth)
            batch_time = time.perf_counter() - t
            lines = [f"[2025-12-19 10:04:05] [trainer] [INFO] [train] step {s} loss {2.0 / (1 + s / 100):.4f}"
                     for s in range(step - LOG_LINES, step)]
            t = time.perf_counter()
            log_status, _ = client.call("POST", f"/api/training/local/{job_id}/logs", json.dumps({"logs": lines}), auth)
            log_time = time.perf_counter() - t
            if tick < start:
                tick += 1.0
                continue
            with lock:
                batches.append(batch_time)
                logs.append(log_time)
                errors[0] += (status != 200) + (log_status != 200)
            tick += 1.0

    threads = [threading.Thread(target=trainer, args=(i, job_id, token)) for i, (job_id, token) in enumerate(jobs)]
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.perf_counter() - start
    offered = TRAINERS * POINTS
    print(f"{label:<28} {len(batches) * POINTS / elapsed:>9,.0f} points/s (offered {offered:,}/s)  batch p50 {pct(batches, 50) * 1000:6.2f} ms"
          f"  p99 {pct(batches, 99) * 1000:7.2f} ms  logs p99 {pct(logs, 99) * 1000:7.2f} ms  {len(batches)} batches  errors {errors[0]}")


def main():
    print(f"{TRAINERS} trainers, each {POINTS} points/s in one batch and {LOG_LINES} log lines/s, {SECONDS:.0f} s per route "
          f"after {WARMUP:.0f} s of warm-up")
    phase("POST local/metrics", "local")
    phase("POST jobs/:id/metrics", "contract")


if __name__ == "__main__":
    main()
