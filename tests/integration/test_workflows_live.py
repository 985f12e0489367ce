"""Dependencies with real workers, on each backend: a chain runs in order, a diamond's
join once, a dead dependency's dependents never run, and fixing it runs them."""

from __future__ import annotations

import json
import os

from queuectl.store.models import JobState, Run
from tests.integration.conftest import Cluster


def test_real_workers_run_a_chain_in_order_and_never_a_dead_dependencys_dependent(
    cluster: Cluster,
):
    trace = os.path.join(cluster.workdir, "trace.txt")
    lines = [
        {"id": "a", "command": f"echo a >> {trace}"},
        {"id": "b", "command": f"echo b >> {trace}", "after": "a"},
        {"id": "c", "command": f"echo c >> {trace}", "after": "a"},
        {"id": "d", "command": f"echo d >> {trace}", "after": ["b", "c"]},
        {"id": "broken", "command": "exit 3", "max_retries": 0},
        {"id": "never", "command": f"echo never >> {trace}", "after": "broken"},
    ]
    jobs = os.path.join(cluster.workdir, "jobs.jsonl")
    with open(jobs, "w") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in lines)
    cluster.cli("enqueue", "--file", jobs)
    cluster.start_workers(2)
    cluster.wait_state("d", JobState.COMPLETED, timeout=30)
    never = cluster.wait_state("never", JobState.DEAD, timeout=30)
    assert never.last_error == "dependency broken is dead"
    with open(trace) as handle:
        ran = handle.read().split()
    assert ran[0] == "a" and ran[-1] == "d" and sorted(ran[1:3]) == ["b", "c"]
    assert len(ran) == 4  # d once; "never" never
    assert Run.select().where(Run.job == "never").count() == 0

    # Fixed (an edit retries a dead job), the dependency revives its dependent, which runs.
    cluster.cli("edit", "broken", '{"command": "true"}')
    cluster.wait_state("never", JobState.COMPLETED, timeout=30)
    with open(trace) as handle:
        assert handle.read().split()[4:] == ["never"]
