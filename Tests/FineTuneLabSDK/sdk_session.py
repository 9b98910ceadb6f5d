"""A FineTune Lab session against this backend, with the platform's own SDK
(finetune-lab 0.6.0, unchanged) and its trainer's requests, through nginx.

Run by Tests/IntegrationTests/FineTuneLabSDKTests.swift with FTAPI_URL (nginx),
FTAPI_KEY (a key of scope training), FTAPI_USER (its user) and FTAPI_OTHER_KEY
(another user's key). Exits 0 and prints OK when every check holds; any failed
check raises, and the traceback says which.
"""
import os

import requests
from finetune_lab import FinetuneLabClient, FinetuneLabError

BASE = os.environ["FTAPI_URL"]
KEY = os.environ["FTAPI_KEY"]
USER = os.environ["FTAPI_USER"]
OTHER_KEY = os.environ["FTAPI_OTHER_KEY"]
JOB = "sdk_training_001"


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def status_of(call):
    """The status code of the FinetuneLabError that `call` raises."""
    try:
        call()
    except FinetuneLabError as error:
        return error.status_code
    raise AssertionError("the call succeeded")


client = FinetuneLabClient(api_key=KEY, base_url=BASE)

# Register the job as the SDK's README shows; a second call answers the same token.
job = client.training.create_job(
    job_id=JOB, model_name="llama-3-8b-tool-use", dataset_path="./data/tiny_tool_use.jsonl", config={"epochs": 3, "batch_size": 4}
)
expect(job["success"] is True and job["persisted"] is True, job)
expect(job["job_id"] == JOB and job["user_id"] == USER, job)
token = job["job_token"]
expect(client.training.create_job(job_id=JOB, model_name="llama-3-8b-tool-use")["job_token"] == token, "the token changed")
trainer = {"Authorization": "Bearer " + token}

# The trainer posts batches of points with its token, as the platform's trainers do.
for batch in range(3):
    points = [
        {"step": batch * 10 + i, "epoch": batch, "loss": 2.0 - 0.01 * (batch * 10 + i), "learning_rate": 2e-4, "gpu_memory_reserved_gb": 20.5}
        for i in range(10)
    ]
    answer = requests.post(BASE + "/api/training/local/metrics", json={"job_id": JOB, "metrics": points}, headers=trainer, timeout=30)
    expect(answer.status_code == 200 and answer.json() == {"success": True, "count": 10}, answer.text)
    if batch == 0:
        # Re-sent, as a trainer retrying after a timeout does: nothing changes.
        again = requests.post(BASE + "/api/training/local/metrics", json={"job_id": JOB, "metrics": points}, headers=trainer, timeout=30)
        expect(again.status_code == 200, again.text)
answer = requests.put(BASE + f"/api/training/local/{JOB}/metrics", json={"step": 30, "epoch": 3, "eval_loss": 1.5}, headers=trainer, timeout=30)
expect(answer.status_code == 200 and answer.json() == {"success": True}, answer.text)
nan = requests.post(
    BASE + "/api/training/local/metrics", data='{"job_id": "%s", "metrics": [{"step": 31, "loss": NaN}]}' % JOB,
    headers={**trainer, "Content-Type": "application/json"}, timeout=30,
)
expect(nan.status_code == 400, nan.text)

log_lines = [
    "[2025-12-19 10:04:05] [trainer] [INFO] [setup] Loading model",
    "[2025-12-19 10:04:06] [trainer] [WARNING] [train] Gradient overflow at step 12",
    "[2025-12-19 10:04:07] [trainer] [WARNING] [train] Gradient overflow at step 19",
    "Traceback (most recent call last):",
    '  File "train.py", line 88, in <module>',
    "    main()",
    "RuntimeError: CUDA out of memory",
]
answer = requests.post(BASE + f"/api/training/local/{JOB}/logs", json={"logs": log_lines}, headers=trainer, timeout=30)
expect(answer.status_code == 200 and answer.json()["logs_appended"] == 7 and answer.json()["total_logs"] == 7, answer.text)

# Predictions with the SDK's own method and the job token.
sent = client.training_predictions.create(
    job_id=JOB,
    job_token=token,
    predictions=[
        {"epoch": e, "step": 10 * e, "sample_index": i, "prompt": "What is 2+2?", "prediction": "4" if i else "5", "ground_truth": "4",
         "exact_match": 1.0 if i else 0.0, "char_error_rate": 0.4 / e if i == 0 else 0.0, "validation_pass": bool(i)}
        for e in (1, 2) for i in (0, 1)
    ],
)
expect(sent == {"success": True, "count": 4}, sent)

answer = requests.patch(BASE + f"/api/training/local/{JOB}/status", json={"status": "failed", "error": "CUDA out of memory"}, headers=trainer, timeout=30)
expect(answer.status_code == 200 and answer.json()["status"] == "failed", answer.text)

# Read it all back with the SDK's own methods.
metrics = client.training.get_metrics(JOB)
expect(metrics["job_id"] == JOB and len(metrics["metrics"]) == 31, len(metrics["metrics"]))
expect(metrics["metrics"][0]["train_loss"] == 2.0 and metrics["metrics"][0]["gpu_memory_reserved_gb"] == 20.5, metrics["metrics"][0])
expect(metrics["metrics"][-1]["step"] == 30 and metrics["metrics"][-1]["eval_loss"] == 1.5, metrics["metrics"][-1])

logs = client.training.get_logs(JOB, limit=2, offset=1)
expect(logs["logs"] == log_lines[1:3] and logs["total_lines"] == 7 and logs["limit"] == 2, logs)
expect(client.training.get_logs(JOB, limit=1, offset=-1)["logs"] == [log_lines[-1]], "tail")

errors = client.training.get_errors(JOB)
expect(errors["error_summary"] == "CUDA out of memory", errors)
expect(errors["unique_error_count"] == 2 and errors["error_count"] == 3, errors)
expect(errors["errors"][0]["message"] == "RuntimeError: CUDA out of memory" and errors["errors"][1]["count"] == 2, errors["errors"])
expect(errors["traceback"]["exception_type"] == "RuntimeError", errors["traceback"])
expect(errors["traceback"]["frames"] == [{"file": "train.py", "line": 88, "function": "<module>", "code": "main()"}], errors["traceback"])

page = client.training_predictions.get(JOB, epoch=2, limit=10)
expect(page.total_count == 4 and page.epoch_count == 2 and len(page.predictions) == 2, page)
expect(page.predictions[0].epoch == 2 and page.predictions[0].sample_index == 0 and page.predictions[0].job_id == JOB, page.predictions[0])
expect([e.prediction_count for e in client.training_predictions.epochs(JOB).epochs] == [2, 2], "epochs")
trends = client.training_predictions.trends(JOB)
expect([t.avg_char_error_rate for t in trends.trends] == [0.2, 0.1] and abs(trends.overall_improvement - 50) < 1e-9, trends)

listed = client.training.list_jobs(limit=10)
mine = [j for j in listed["jobs"] if j.get("external_id") == JOB]
expect(listed["success"] is True and listed["count"] == len(listed["jobs"]) and len(mine) == 1, listed)

# The same job through the contract's own routes.
contract = requests.get(BASE + f"/api/training/jobs/{mine[0]['id']}", headers={"X-API-Key": KEY}, timeout=30).json()["data"]
expect(contract["status"] == "failed" and contract["current_step"] == 30 and contract["error_message"] == "CUDA out of memory", contract)
expect(contract["model_name"] == "llama-3-8b-tool-use" and contract["config"] == {"epochs": 3, "batch_size": 4}, contract)
points = requests.get(BASE + f"/api/training/jobs/{mine[0]['id']}/metrics?limit=5000", headers={"X-API-Key": KEY}, timeout=30).json()
expect(points["total"] == 31, points["total"])

# Refusals: another user's SDK sees no such job.
other = FinetuneLabClient(api_key=OTHER_KEY, base_url=BASE)
expect(status_of(lambda: other.training.get_metrics(JOB)) == 404, "another user's metrics")
expect(status_of(lambda: other.training.get_logs(JOB)) == 404, "another user's logs")
expect(status_of(lambda: other.training.get_errors(JOB)) == 404, "another user's errors")
expect(status_of(lambda: other.training_predictions.get(JOB)) == 404, "another user's predictions")
expect(all(j.get("external_id") != JOB for j in other.training.list_jobs()["jobs"]), "another user's list")

# A token for another job reaches only that job.
second = client.training.create_job(job_id="sdk_training_002")
crossed = {"Authorization": "Bearer " + second["job_token"]}
answer = requests.post(BASE + "/api/training/local/metrics", json={"job_id": JOB, "metrics": [{"step": 99}]}, headers=crossed, timeout=30)
expect(answer.status_code == 401, answer.text)
answer = requests.post(
    BASE + "/api/training/local/predictions",
    json={"job_id": JOB, "predictions": [{"epoch": 9, "step": 9, "sample_index": 0, "prompt": "p", "prediction": "q"}]},
    headers=crossed, timeout=30,
)
expect(answer.status_code == 401, answer.text)
expect(requests.post(BASE + f"/api/training/local/{JOB}/logs", json={"logs": ["x"]}, headers=crossed, timeout=30).status_code == 401, "logs")

# A user_id in the body is no credential (the original platform's training server sent one).
answer = requests.post(BASE + "/api/training/local/metrics", json={"job_id": JOB, "user_id": USER, "metrics": [{"step": 99}]}, timeout=30)
expect(answer.status_code == 401 and answer.json() == {"error": "Missing authorization header"}, answer.text)
answer = requests.post(BASE + "/api/training/local/jobs", json={"job_id": "sdk_training_003", "user_id": USER}, timeout=30)
expect(answer.status_code == 401, answer.text)
expect(len(client.training.get_metrics(JOB)["metrics"]) == 31, "a refused request stored something")

print("OK")
