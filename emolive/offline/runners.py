"""Running a batch of jobs: in this process, in a pool of processes, or on a Dask cluster; results in job order."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as completed_futures
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import IO

from emolive.core.errors import EmoliveError
from emolive.core.progress import Progress
from emolive.offline.job import FileJob, JobResult, failed, run_job, safe_run_job

log = logging.getLogger(__name__)

Finished = Callable[[int, JobResult], None]
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d{1,5}$")


@dataclass(frozen=True)
class Cluster:
    """Where ``--cluster`` sends the jobs: ``local`` worker processes started here, or a scheduler's address."""

    address: str = ""  # the scheduler (empty: a local cluster)
    local_workers: int = 0


def parse_cluster(text: str) -> Cluster:
    """``local:N`` (N >= 1) or a scheduler address (``tcp://host:8786``, ``host:8786``); EmoliveError otherwise."""
    if text.startswith("local:"):
        count = text.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise EmoliveError(f"--cluster {text}: expected local:N with N at least 1 worker process")
        return Cluster(local_workers=int(count))
    if not _REMOTE.match(text):
        raise EmoliveError(f"--cluster {text}: expected a Dask scheduler address such as tcp://HOST:8786 (or "
                           "local:N for N local worker processes)")
    return Cluster(address=text)


def run_batch(jobs: list[FileJob], workers: int = 1, cluster: Cluster | None = None, show_progress: bool = True,
              on_result: Callable[[JobResult], None] | None = None,
              progress_stream: IO[str] | None = None) -> list[JobResult]:
    """Run every job (in this process, a process pool, or a Dask cluster); results in the jobs' order.

    A single job in this process raises its errors; in a batch every failure is a ``failed`` result.
    """
    total = sum(j.duration_s for j in jobs)
    overall = Progress(total, desc=f"{len(jobs)} files", enabled=show_progress and len(jobs) > 1,
                       stream=progress_stream, position=0)
    results: dict[int, JobResult] = {}
    done_s = 0.0

    def finished(index: int, result: JobResult) -> None:
        nonlocal done_s
        results[index] = result
        done_s += jobs[index].duration_s
        overall.update(done_s)
        if on_result is not None:
            on_result(result)

    try:
        if cluster is not None:
            run_on_dask(jobs, cluster, finished)
        elif workers > 1 and len(jobs) > 1:
            run_in_pool(jobs, workers, finished)
        else:
            for i, job in enumerate(jobs):
                on_progress = None
                if len(jobs) > 1:
                    job = replace(job, progress=job.progress and show_progress)
                    on_progress = lambda s, base=done_s: overall.update(base + s)  # noqa: E731
                finished(i, run_job(job, on_progress, progress_stream) if len(jobs) == 1 else
                         _run_here(job, on_progress, progress_stream))
    finally:
        overall.close()
    return [results[i] for i in sorted(results)]


def _run_here(job: FileJob, on_progress: Callable[[float], None] | None, stream: IO[str] | None) -> JobResult:
    try:
        return run_job(job, on_progress, stream)
    except EmoliveError as exc:
        return failed(job, str(exc))
    except Exception as exc:  # one bad file must not end the batch
        log.exception("analysis of %s failed", job.path)
        return failed(job, f"{type(exc).__name__}: {exc}")


def run_in_pool(jobs: list[FileJob], workers: int, finished: Finished) -> None:
    """Each job in one of ``workers`` spawned processes (each loads the models once)."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(safe_run_job, replace(job, progress=False)): i for i, job in enumerate(jobs)}
        for future in completed_futures(futures):
            finished(futures[future], future.result())


def _absolute(job: FileJob) -> FileJob:
    """The job as a worker on another machine or in another folder reads it."""
    return replace(job, path=str(Path(job.path).resolve()), out=str(Path(job.out).resolve()), progress=False)


def run_on_dask(jobs: list[FileJob], cluster: Cluster, finished: Finished) -> None:
    """Send each job to a Dask cluster; its results name the files as the jobs do (paths as the user gave them)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed  # heavy, and an optional extra
    except ImportError as exc:
        raise EmoliveError("--cluster needs dask.distributed: pip install 'emolive[cluster]'") from exc
    # Dask sets its loggers to INFO on import; they log through the app's handler at the app's level (-v: INFO)
    level = max(logging.getLogger().getEffectiveLevel(), logging.INFO)
    logging.getLogger("distributed").setLevel(level)
    local = None
    try:
        if cluster.local_workers:
            local = LocalCluster(n_workers=cluster.local_workers, threads_per_worker=1, processes=True,
                                 dashboard_address=None, silence_logs=level)
            client = Client(local)
        else:
            try:
                client = Client(cluster.address, timeout=10)
            except (OSError, TimeoutError, ValueError) as exc:
                raise EmoliveError(f"cannot reach the Dask scheduler at {cluster.address}: {exc}") from exc
        with client:
            futures = client.map(safe_run_job, [_absolute(j) for j in jobs], pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for future in as_completed(futures):
                i = index[future.key]
                finished(i, replace(future.result(), file=jobs[i].path, csv=jobs[i].out))
    finally:
        if local is not None:
            local.close()
