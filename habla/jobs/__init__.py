"""Durable transcription jobs: a SQL job store, one job body (runner), and two ways to run it
(in-process threads, or Celery workers). ``JobService`` in ``habla.jobs.service`` ties them together."""

from habla.jobs.models import Job, JobSpec, JobStatus

__all__ = ["Job", "JobSpec", "JobStatus"]
