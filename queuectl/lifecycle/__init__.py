"""The lifecycle layer: every change to jobs, runs, workers, queues and schedules."""

from queuectl.store.boundary import answers as store_answers

__all__ = ["store_answers"]
