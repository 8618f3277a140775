"""One way to do background work (docs/tasks.md): `Tasks.submit(task_name, payload) → job id`.

- `registry.py`: `@task(name, queue)` registers a task function (`TaskContext`, JSON payload → JSON result);
- `models.py`: the job row (`task_jobs`): status queued/running/succeeded/failed, attempts, result, redacted error;
- `engine.py`: claim (queued|running → running, attempts + 1, in a write transaction), run, finish;
- `backends.py`: `Tasks` and the in-process thread pool (the embedded default);
- `celery_app.py`: Celery on RabbitMQ (`YUNWANG_BROKER_URL`), the worker side included;
- `api.py`: `GET /api/v1/tasks/{job_id}`.
"""
