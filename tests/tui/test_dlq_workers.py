"""DLQ and Workers panes: retries, purges and worker control, each asked for like the CLI."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from textual.widgets import Input

from queuectl.lifecycle import queues
from queuectl.states import FORCED_STOP
from queuectl.store.models import Job
from queuectl.store.models import Worker as WorkerRow
from tests.conftest import T0
from tests.tui.conftest import (
    asked,
    drawn_cell,
    refreshed,
    seed_job,
    seed_run,
    seed_worker,
    wait_for,
    wait_toast,
)
from tui.cells import DLQ_ID_COLUMNS, JOB_ID_COLUMNS, WORKER_ID_COLUMNS
from tui.panes.dlq import DlqPane
from tui.panes.jobs import JobsPane
from tui.panes.workers import WorkersPane
from tui.screens.confirm import ConfirmScreen, CountScreen
from tui.screens.detail import JobDetailScreen


def _states() -> dict[str, str]:
    return {job.id: job.state for job in Job.select()}


def _seed_dead() -> None:
    seed_job("d1", state="dead", attempts=4, last_error="exit 1", finished_at=T0 - 50)
    seed_job("d2", state="dead", attempts=4, last_error="exit 2", finished_at=T0 - 40)
    seed_job("ok", state="completed")


async def _workers_pane(pilot: Any, rows: int) -> Any:
    """Switch to the Workers pane and wait for its ``rows`` workers; returns its table."""
    await pilot.press("3")
    table = pilot.app.query_one(WorkersPane).table
    await wait_for(pilot, lambda: table.row_count == rows, f"{rows} workers")
    # Rows that arrive while the pane is hidden get the labels' widths until the pane's
    # first resize fits them: under load a test read the cells in between ("", "").
    await wait_for(pilot, lambda: table.size.width > 0 and table.layout == table._fit(), "fit")
    return table


async def test_dlq_lists_dead_jobs_with_their_error(app_for) -> None:
    _seed_dead()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        pane = app.query_one(DlqPane)
        assert sorted(key for key, _ in app.last_snapshot.dlq.rows) == ["d1", "d2"]
        assert pane.table.has_focus
        assert "exit 2" in str(pane.table.cells_of("d2")[5])


async def test_dlq_retry_highlighted(app_for) -> None:
    _seed_dead()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        highlighted = app.query_one(DlqPane).highlighted
        await pilot.press("r")
        await wait_for(pilot, lambda: _states()[highlighted] == "pending", "dlq retry")
        assert sum(state == "dead" for state in _states().values()) == 1


async def test_dlq_retry_all_after_confirmation(app_for) -> None:
    _seed_dead()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "2", "R")
        await pilot.press("escape")
        await pilot.pause()
        assert _states() == {"d1": "dead", "d2": "dead", "ok": "completed"}
        await asked(pilot, "R")
        await pilot.press("y")
        await wait_for(pilot, lambda: _states()["d1"] == _states()["d2"] == "pending", "all")
        await wait_toast(pilot, "2 dead jobs back to pending")


async def test_dlq_purge_after_confirmation(app_for) -> None:
    _seed_dead()
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "2", "p")
        await pilot.press("y")
        await wait_for(pilot, lambda: _states() == {"ok": "completed"}, "purge")


async def test_dlq_retry_all_when_empty_says_so(app_for) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2", "R")
        await wait_toast(pilot, "The DLQ is empty")
        assert not isinstance(app.screen, ConfirmScreen)


async def test_workers_pane_shows_live_stopped_and_lost(app_for) -> None:
    seed_worker("w-a", state="busy", current_job="j1", jobs_done=5)
    seed_worker("w-b", state="idle", heartbeat_at=T0 - 300)  # past the 30 s lease
    seed_worker("w-c", state="stopped", stopped_at=T0 - 10)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3")
        table = app.query_one(WorkersPane).table
        assert str(table.get_row("w-a")[3]) == "busy"
        assert str(table.get_row("w-b")[3]) == "lost"
        assert str(table.get_row("w-c")[3]) == "stopped"
        assert str(table.get_row("w-a")[5]) == "0/1"  # slots in use: no job of its runs
        assert str(table.get_row("w-c")[5]) == ""
        assert str(table.get_row("w-a")[6]) == "2.0s"
        assert app.last_snapshot.workers_busy == 1
        assert app.last_snapshot.workers_idle == 0


async def test_start_workers_asks_how_many(app_for, supervisor, opened) -> None:
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), "count prompt")
        await pilot.press("backspace", "0", "enter")
        assert isinstance(app.screen, CountScreen)  # 0 is refused inline
        await pilot.press("backspace", "2", "enter")
        await wait_for(pilot, lambda: ("start", (opened, 2)) in supervisor.calls, "start")
        await wait_toast(pilot, "Started 2 workers")


async def test_start_workers_offers_the_queues_that_wait_for_a_worker(app_for, supervisor):
    """The header said "no worker: reports" and the form offered ``default``."""
    seed_worker("w-d", queues="default")
    seed_job("r1", queue="reports")
    seed_job("e1", queue="etl", state="failed")
    seed_job("p1", queue="paused-one")
    queues.pause(["paused-one"], now=T0)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), "count prompt")
        assert app.screen.query_one("#queues", Input).value == "etl,reports"
        await pilot.press("enter")
        await wait_toast(pilot, "Started 1 worker on etl, reports")
        assert supervisor.queues == ["etl", "reports"]


async def test_starting_workers_on_many_queues_names_three_in_the_toast(app_for, supervisor):
    """Fourteen long queue names made a toast of 22 lines over the header."""
    names = [f"very-long-unserved-queue-{number:02d}" for number in range(14)]
    for name in names:
        seed_job(f"j-{name}", queue=name)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), "count prompt")
        await pilot.press("enter")
        await wait_toast(pilot, f"Started 1 worker on {', '.join(names[:3])} and 11 more")
        assert supervisor.queues == names


async def test_stop_highlighted_worker(app_for, supervisor) -> None:
    """An idle worker's question spoke of "its current job"."""
    seed_worker("w-a", state="idle")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "x")
        idle = "It is idle and ends at once."
        assert app.screen.question == f"Stop worker w-a (pid 4242 on box)? {idle}"
        await pilot.press("y")
        await wait_for(pilot, lambda: ("wait", ["w-a"]) in supervisor.calls, "stop + wait")
        assert ("stop", (["w-a"], False)) in supervisor.calls
        await wait_toast(pilot, "Worker w-a stopped")


async def test_a_stop_that_finds_no_process_says_the_worker_was_lost(app_for, supervisor) -> None:
    """A row naming no process of this database (another database's worker, on a shared
    server) was marked lost by the stop, and the toast said "Worker fake stopped"."""
    seed_worker("fake", state="idle")

    def found_lost(asked: list[str], _force: bool) -> None:
        WorkerRow.update(state="lost").where(WorkerRow.id.in_(asked)).execute()

    supervisor.on_stop = found_lost
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "x")
        await pilot.press("y")
        await wait_toast(pilot, "Worker fake was lost: no process of this database runs it")


async def test_a_stop_that_waits_for_a_job_says_nothing_of_the_database(app_for, supervisor):
    """A graceful stop of a busy worker waits for its job: after 1.5 s a toast said the
    database was being written by another process and that this gave up after 15 s, none
    of it true. And ``x`` again before the next refresh asked the same question again,
    and a second stop was sent (the row says "stopping" only a refresh later)."""
    seed_job("j1", state="processing", worker_id="w-a")
    seed_worker("w-a", state="busy", current_job="j1")
    supervisor.stop_takes = 2.0
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "x")
        assert app.screen.question.endswith("? It finishes its current job first.")
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "answered")
        await pilot.press("x")  # at once: the snapshot still says busy
        await wait_toast(pilot, "is stopping already")
        assert not isinstance(app.screen, ConfirmScreen)
        await wait_toast(pilot, "Worker w-a stopped")
        assert not any("database" in toast for toast in app.toasts), list(app.toasts)
        assert [call for call in supervisor.calls if call[0] == "stop"] == [
            ("stop", (["w-a"], False))
        ]


async def test_a_force_stop_names_the_job_it_killed_not_the_one_it_asked_about(
    app_for, supervisor
) -> None:
    """The question names the job running when it opened; by the answer that job had
    ended and the worker had started another, which the stop killed. The toast said only
    "Worker stopped": now it names what was killed, as found after the stop."""
    seed_job("j1", "sleep 1", state="processing", worker_id="w-a")
    seed_worker("w-a", state="busy", current_job="j1")

    def the_worker_kills_its_job(asked: list[str], force: bool) -> None:
        assert asked == ["w-a"] and force
        seed_job("j2", "sleep 1", state="pending", attempts=0)
        seed_run(
            "j2",
            worker_id="w-a",
            finished_at=T0,
            outcome="interrupted",
            error=FORCED_STOP + "; killed by SIGTERM",
        )

    supervisor.on_stop = the_worker_kills_its_job
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "K")
        assert "Its job j1 is killed" in app.screen.question
        Job.update(state="completed", worker_id=None).where(Job.id == "j1").execute()
        await pilot.press("y")
        await wait_toast(pilot, "Worker w-a stopped; killed j2, back to pending")


async def test_stopping_a_worker_with_slots_names_every_running_job(app_for, supervisor) -> None:
    """A worker of 4 slots running 3 jobs: each dialog counts them, not only the row's one."""
    seed_worker("w-a", state="busy", slots=4, current_job="job-1")
    for n in (1, 2, 3):
        seed_job(f"job-{n}", "sleep 9", state="processing", worker_id="w-a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "x")
        assert app.screen.question == (
            "Stop worker w-a (pid 4242 on box, running job-1 and 2 more)?"
            " It finishes its 3 running jobs first."
        )
        await pilot.press("n")
        await asked(pilot, "K")
        assert app.screen.question == (
            "Force-stop worker w-a (pid 4242 on box, running job-1 and 2 more)?"
            " Its 3 running jobs are killed and go back to pending."
        )
        await pilot.press("n")
        await pilot.pause()
        assert supervisor.calls == []
        await asked(pilot, "x")
        await pilot.press("y")  # the toast, and a second x, count its jobs too
        await wait_toast(pilot, "Stopping worker w-a (it finishes its 3 running jobs first)")
        await pilot.press("x")
        await wait_toast(pilot, "is stopping already: it finishes its 3 running jobs first")


async def test_a_worker_of_several_slots_counts_its_other_jobs_beside_the_first(app_for) -> None:
    """The Job cell showed one of a slotted worker's jobs, as if it ran only that."""
    seed_worker("w-a", state="busy", slots=4, current_job="job-1")
    seed_worker("w-b", state="busy", slots=4, current_job="job-4")
    for n, worker in ((1, "w-a"), (2, "w-a"), (3, "w-a"), (4, "w-b")):
        seed_job(f"job-{n}", "sleep 9", state="processing", worker_id=worker)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3")
        table = app.query_one(WorkersPane).table
        assert [str(cell) for cell in table.get_row("w-a")[4:6]] == ["job-1 +2", "3/4"]
        assert [str(cell) for cell in table.get_row("w-b")[4:6]] == ["job-4", "1/4"]


async def test_a_stopping_worker_still_running_jobs_counts_busy_in_the_header(app_for) -> None:
    """After ``x`` on a worker running two jobs, the header said "0 busy 1 idle" while the
    pane said "stopping" and two jobs were processing."""
    seed_worker("w-a", state="stopping", slots=2, current_job="j1")
    seed_worker("w-b", state="stopping")
    for n in (1, 2):
        seed_job(f"j{n}", "sleep 9", state="processing", worker_id="w-a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        assert (app.last_snapshot.workers_busy, app.last_snapshot.workers_idle) == (1, 1)


async def test_the_header_counts_lost_workers(app_for) -> None:
    """It read "1 busy 0 idle" beside two lost workers whose jobs wait for a recovery."""
    seed_worker("w-a", state="busy", current_job="j1")
    seed_job("j1", "sleep 9", state="processing", worker_id="w-a")
    seed_worker("w-l1", state="busy", heartbeat_at=T0 - 300)
    seed_worker("w-l2", state="idle", heartbeat_at=T0 - 300)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        header = str(app.query_one("#workers-summary").render())
        assert "1 busy 0 idle 2 lost" in header, header


async def test_force_stop_asks_first(app_for, supervisor) -> None:
    seed_worker("w-a", state="busy")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "K")
        await pilot.press("y")
        await wait_for(pilot, lambda: ("stop", (["w-a"], True)) in supervisor.calls, "force")


async def test_stop_all_asks_first(app_for, supervisor) -> None:
    """And says at once that it is stopping them: it said nothing until they had exited."""
    seed_worker("w-a")
    supervisor.stop_takes = 0.5
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "X")
        await pilot.press("n")
        await pilot.pause()
        assert supervisor.calls == []
        await asked(pilot, "X")
        await pilot.press("y")
        await wait_toast(pilot, "Stopping every running worker (1)")
        assert not any("stopped" in toast for toast in app.toasts), list(app.toasts)
        await wait_for(pilot, lambda: ("stop", (None, False)) in supervisor.calls, "stop all")
        await wait_toast(pilot, "Every worker stopped")
        await pilot.press("x")  # the row may still say idle: it was asked already
        await wait_toast(pilot, "is stopping already")


async def test_without_the_worker_runtime_says_so(app_for, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "queuectl.runtime.supervisor", None)  # import raises
    seed_worker("w-a")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "3", "x")
        await pilot.press("y")
        await wait_toast(pilot, "worker runtime (queuectl.supervisor) is not available")


async def test_dlq_shows_the_latest_death_first(app_for) -> None:
    """A job retried from the DLQ that died again sat at its enqueue's place, among
    jobs dead for hours, while the Died column said it had just died."""
    seed_job("old", state="dead", attempts=4, finished_at=T0 - 30, now=T0 - 7200)
    seed_job("mid", state="dead", attempts=4, finished_at=T0 - 3600, now=T0 - 3700)
    seed_job("new", state="dead", attempts=4, finished_at=T0 - 600, now=T0 - 650)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        assert [key for key, _ in app.last_snapshot.dlq.rows] == ["old", "new", "mid"]


async def test_the_dlq_error_shows_what_the_job_printed_last(app_for) -> None:
    """Last error said ``exit 3``; the job's ``failing 123`` on stderr was in its detail
    screen only. At 80 columns the line is cut to the column, the error kept."""
    for key in ("d1", "d2"):
        seed_job(
            key,
            "./failing.sh 123",
            state="dead",
            attempts=4,
            last_error="exit 3",
            finished_at=T0 - 5,
            output="starting\nfailing 123 \x1b[31mat step 7 of the nightly import\x1b[0m\n",
        )
    app = app_for()
    async with app.run_test(size=(160, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("2")
        table = app.query_one(DlqPane).table
        await wait_for(pilot, lambda: table.row_count == 2, "the dead jobs")
        said = "exit 3: failing 123 at step 7 of the nightly import"
        assert drawn_cell(table, "d1", "error") == said
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: dict(table.layout)["error"] < len(said), "the narrow layout")
        drawn = drawn_cell(table, "d1", "error")
        assert drawn.endswith("…") and said.startswith(drawn[:-1])


def test_the_ids_cut_in_the_middle_are_the_panes_id_columns() -> None:
    """``cells`` names the columns by position, the panes by key: they must agree."""
    assert [JobsPane.COLUMNS[i].key for i in JOB_ID_COLUMNS] == ["id", "worker"]
    assert [DlqPane.COLUMNS[i].key for i in DLQ_ID_COLUMNS] == ["id"]
    assert [WorkersPane.COLUMNS[i].key for i in WORKER_ID_COLUMNS] == ["id", "job"]


async def test_worker_and_job_ids_keep_their_ends_in_narrow_columns(app_for) -> None:
    """A schedule's fires differ at the end, and so may worker ids (``worker run`` takes a
    fixed one): cut at the end, two workers' rows, and the jobs they run, would read alike."""
    fires = [f"nightly-backup-of-the-orders-database:202612{day:02d}T030000Z" for day in (4, 5)]
    workers = ["build-server-west-7", "build-server-west-8"]
    for fire, worker in zip(fires, workers, strict=True):
        seed_job(fire, state="processing", worker_id=worker)
        seed_worker(worker, state="busy", current_job=fire)
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        await refreshed(pilot)
        jobs = app.query_one(JobsPane).table
        await wait_for(pilot, lambda: jobs.row_count == 2, "both running jobs")
        # The Worker column is at most 12 cells, however wide the screen.
        assert [drawn_cell(jobs, fire, "worker") for fire in fires] == [
            "bui…r-west-7",
            "bui…r-west-8",
        ]
        table = await _workers_pane(pilot, 2)
        # Whole where there is room ...
        assert [drawn_cell(table, worker, "id") for worker in workers] == workers
        assert [drawn_cell(table, worker, "job") for worker in workers] == fires
        # ... and cut in the middle where there is not.
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: dict(table.layout)["id"] == 16, "the narrow layout")
        assert [drawn_cell(table, worker, "id") for worker in workers] == [
            "build-s…r-west-7",
            "build-s…r-west-8",
        ]
        jobs_drawn = [drawn_cell(table, worker, "job") for worker in workers]
        assert all(job.startswith("n") and "…" in job for job in jobs_drawn)
        assert [job.rsplit("…", 1)[1] for job in jobs_drawn] == [
            "20261204T030000Z",
            "20261205T030000Z",
        ]


async def test_a_stopped_worker_is_not_asked_to_stop(app_for, supervisor):
    seed_worker("w-s", state="stopped", stopped_at=T0 - 10)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        for key in ("x", "K"):
            await pilot.press("3", key)
            await wait_toast(pilot, "Worker w-s")
            assert not isinstance(app.screen, ConfirmScreen)
        await wait_toast(pilot, "has stopped already")
        assert supervisor.calls == []


async def test_the_key_bar_dims_stop_keys_on_a_stopped_worker_and_they_still_say_why(
    app_for, supervisor
):
    """The bar offered ``x`` Stop and ``K`` Force stop on a stopped worker, where each
    could only answer "has stopped already". They are dimmed there, as the cursor moves
    and as a worker stops under it; pressed, they still say why."""
    from tui.keybar import KeyBar

    seed_worker("w-live", started_at=T0 - 100)
    seed_worker("w-done", state="stopped", stopped_at=T0 - 10, started_at=T0 - 200)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        table = await _workers_pane(pilot, 2)
        bar = app.screen.query_one(KeyBar)

        def enabled() -> dict[str, bool]:
            return {what: on for _k, what, _key, _a, on in bar.items if "top" in what}

        every = {"Stop": True, "Stop all": True, "Force stop": True}
        table.select_key("w-live")
        await wait_for(pilot, lambda: enabled() == every, f"x and K offered: {enabled()}")
        table.select_key("w-done")
        dimmed = {**every, "Stop": False, "Force stop": False}
        await wait_for(pilot, lambda: enabled() == dimmed, f"x and K dimmed: {enabled()}")
        buttons = {b.id: b.has_class("-inapplicable") for b in app.query(".toolbar Button")}
        assert {k: v for k, v in buttons.items() if "stop" in str(k)} == {
            "btn-stop": True,
            "btn-stop_all": False,
            "btn-force_stop": True,
        }
        await pilot.press("x")
        await wait_toast(pilot, "has stopped already")
        table.select_key("w-live")
        await wait_for(pilot, lambda: enabled() == every, "offered again")
        WorkerRow.update(state="stopped", stopped_at=T0 - 1).where(
            WorkerRow.id == "w-live"
        ).execute()
        app.refresh_now()
        await wait_for(pilot, lambda: enabled() == dimmed, "dimmed once it stopped")
        assert supervisor.calls == []


async def test_a_lost_worker_is_offered_recovery_not_a_stop(app_for, supervisor):
    """``x``/``K`` on a worker shown lost asked it to "finish its current job first" and
    toasted "stopped" while the row stayed lost: its process is gone, so what is left to
    do is recover its job, and the question and the toast say so. Recovery takes every
    lost worker's jobs, so the question names each lost worker that holds one, and the
    row shows the job a lost worker still holds (it was blank)."""
    seed_job("j1", state="processing", worker_id="w-l")
    seed_worker("w-l", state="busy", current_job="j1", heartbeat_at=T0 - 300, slots=2)
    seed_worker("w-idle", state="idle", heartbeat_at=T0 - 300)
    supervisor.recovered = ["j1"]
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        table = await _workers_pane(pilot, 2)
        assert [str(cell) for cell in table.get_row("w-l")[3:6]] == ["lost", "j1", "1/2"]
        assert [str(cell) for cell in table.get_row("w-idle")[3:6]] == ["lost", "", ""]
        table.move_cursor(row=table.get_row_index("w-idle"))
        await pilot.press("K")
        await wait_toast(
            pilot,
            "Worker w-idle (pid 4242 on box) is lost; it holds no job now;"
            " P removes its row (queuectl worker prune)",
        )
        assert not isinstance(app.screen, ConfirmScreen)
        table.move_cursor(row=table.get_row_index("w-l"))
        await asked(pilot, "x")
        question = app.screen.question
        assert question.startswith("Worker w-l (pid 4242 on box, running j1): its process")
        assert "Recover its 1 job now?" in question and "finishes" not in question
        await pilot.press("y")
        await wait_toast(pilot, "Recovered 1 job of lost workers: j1")
        assert supervisor.calls == [("recover", None)]


async def test_recovery_from_the_dashboard_names_the_hooks_it_did_not_run(app_for, supervisor):
    """Only workers run hooks: recovery from here sends a job to the DLQ without its
    ``on_failure``, which would have run as the dashboard's user, and says so."""
    seed_job("j1", state="processing", worker_id="w-l")
    seed_worker("w-l", state="busy", current_job="j1", heartbeat_at=T0 - 300)
    supervisor.recovered = ["j1"]
    skipped = "job j1 is dead; its on_failure hook was not run: only workers run hooks"
    supervisor.hooks_skipped = [skipped]
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        table = await _workers_pane(pilot, 1)
        table.move_cursor(row=table.get_row_index("w-l"))
        await asked(pilot, "x")
        await pilot.press("y")
        await wait_toast(pilot, f"Recovered 1 job of lost workers: j1. {skipped}")


async def test_x_on_a_stopping_worker_says_so_instead_of_asking_again(app_for, supervisor):
    """``x`` on a worker already stopping asked "It finishes its current job first" again."""
    seed_job("j1", state="processing", worker_id="w-s")
    seed_worker("w-s", state="stopping", current_job="j1")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await _workers_pane(pilot, 1)
        await pilot.press("x")
        await wait_toast(pilot, "is stopping already: it finishes its current job first")
        assert not isinstance(app.screen, ConfirmScreen)
        assert supervisor.calls == []
        await pilot.press("K")  # a forced stop is still asked
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")


async def test_recovering_a_lost_worker_names_every_lost_worker_it_recovers(app_for, supervisor):
    """Recovery takes the jobs of every lost worker: the question named only the one
    highlighted, and the toast then listed a job of another (an outside try)."""
    for name, job in (("w-a", "slow-1"), ("w-b", "slow-3")):
        seed_job(job, state="processing", worker_id=name)
        seed_worker(name, state="busy", current_job=job, heartbeat_at=T0 - 300)
    app = app_for()
    async with app.run_test(size=(160, 45)) as pilot:
        await refreshed(pilot)
        table = await _workers_pane(pilot, 2)
        table.move_cursor(row=table.get_row_index("w-b"))
        await asked(pilot, "K")
        question = app.screen.question
        assert question.startswith("Worker w-b (pid 4242 on box, running slow-3) and 1 more")
        assert "(w-a)" in question and "Recover their 2 jobs now?" in question


@pytest.mark.parametrize(
    ("state", "key", "why"),
    [
        ("completed", "c", "is completed; it can no longer be cancelled"),
        ("processing", "d", "is processing; cancel it before deleting it"),
    ],
)
async def test_an_action_the_jobs_state_refuses_says_so_without_asking(app_for, state, key, why):
    seed_job("a", state=state, worker_id="w-1" if state == "processing" else None)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press(key)
        await wait_toast(pilot, f"Job a {why}")
        assert not isinstance(app.screen, ConfirmScreen)
        assert Job.get_by_id("a").state == state


@pytest.mark.parametrize(("key", "toast"), [("p", "2 dead jobs purged"), ("R", "2 dead jobs")])
async def test_all_in_a_dlq_question_is_the_jobs_it_counted(app_for, key, toast) -> None:
    """Asked "Purge all 131 dead jobs?" while jobs kept dying, ``y`` purged 137: a job
    that dies while the question waits is left for the next one."""
    _seed_dead()
    clock = [T0]
    app = app_for(clock=lambda: clock[0])
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await asked(pilot, "2", key)
        assert "all 2 dead jobs" in app.screen.question
        seed_job("late", state="dead", finished_at=T0 + 1)  # died after the count
        clock[0] = T0 + 5  # the answer comes a few seconds later
        await pilot.press("y")
        await wait_toast(pilot, toast)
        assert _states()["late"] == "dead"
        assert "d1" not in _states() or _states()["d1"] == "pending"


async def test_the_queues_keep_their_room_at_80_columns(app_for):
    """The queues were cut ("default,ima…") beside columns with one value on every row
    (no slots used, no failures, an empty Job); those give way first now, and a job
    a worker runs still shows."""
    served = "default,images,reports"
    for worker_id, pid in (("w-a", 4242), ("w-b", 4343)):
        seed_worker(worker_id, state="idle", queues=served, pid=pid, host=f"build-{pid}")
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await refreshed(pilot)
        table = await _workers_pane(pilot, 2)
        assert dict(table.layout)["queues"] >= len(served), table.layout
        assert str(table.get_cell("w-a", "queues")) == served
        seed_job("j1", state="processing", worker_id="w-a")
        WorkerRow.update(state="busy", current_job="j1").where(WorkerRow.id == "w-a").execute()
        await refreshed(pilot)
        await wait_for(pilot, lambda: "job" in [key for key, _ in table.layout], "Job")


async def test_enter_on_a_worker_opens_the_job_it_runs(app_for) -> None:
    """Help lists enter under every table; on the Workers pane it did nothing."""
    seed_job("j1", "sleep 9", state="processing", worker_id="w-a")
    seed_worker("w-a", state="busy", current_job="j1")
    seed_worker("w-b", state="idle")
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3")
        table = app.query_one(WorkersPane).table
        table.select_key("w-b")
        await pilot.press("enter")
        await wait_toast(pilot, "runs no job now")
        table.select_key("w-a")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen), "the detail")
        assert app.screen.job_id == "j1"


async def test_a_runtime_changed_under_an_open_dashboard_is_a_message_not_a_crash(
    app_for, monkeypatch
) -> None:
    """Left open across an upgrade, the first ``s`` imported the new runtime against the
    old modules loaded: ``ImportError``, and the dashboard ended with a traceback."""
    import importlib

    real = importlib.import_module

    def upgraded(name: str, *args: object):
        if name == "queuectl.runtime.supervisor":
            raise ImportError("cannot import name 'answer_within' from 'queuectl.lifecycle'")
        return real(name, *args)

    monkeypatch.delitem(sys.modules, "queuectl.runtime.supervisor", raising=False)
    monkeypatch.setattr(importlib, "import_module", upgraded)
    app = app_for()
    async with app.run_test(size=(120, 30)) as pilot:
        await refreshed(pilot)
        await pilot.press("3", "s")
        await wait_toast(pilot, "queuectl was changed since this dashboard started")
        assert app.is_running


async def test_a_lost_worker_whose_process_is_still_here_is_named(app_for, supervisor):
    """A worker stopped with SIGSTOP is lost by its heartbeat, its jobs recovered, its
    process still there: ``K`` said only "it holds no job now"."""
    import subprocess

    from queuectl.hostid import this_host

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        seed_worker("w-st", state="idle", host=this_host(), pid=sleeper.pid, heartbeat_at=T0 - 300)
        app = app_for()
        async with app.run_test(size=(120, 30)) as pilot:
            await refreshed(pilot)
            await _workers_pane(pilot, 1)
            await pilot.press("K")
            await wait_toast(
                pilot,
                f"is lost; it holds no job now, but its process {sleeper.pid} is still there",
            )
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_p_removes_the_rows_of_stopped_and_lost_workers(app_for, supervisor):
    """A killed worker's row stayed all day (``1 lost`` in the header), and the toast on it
    named a CLI command: the dashboard could not remove it (a team lead's try)."""
    seed_worker("w-live", state="idle", pid=4242)
    seed_worker("w-gone", state="stopped", pid=4343, stopped_at=T0 - 100)
    seed_worker("w-lost", state="busy", pid=4444, heartbeat_at=T0 - 300)
    seed_job("stuck", state="processing", worker_id="w-lost")
    app = app_for()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await refreshed(pilot)
        table = await _workers_pane(pilot, 3)
        await asked(pilot, "P")
        assert app.screen.question == (
            "Remove the rows of 1 stopped worker and 1 lost worker?"
            " The lost ones' jobs are recovered first."
        )
        await pilot.press("y")
        # The jobs recovered are named (it said only how many rows went).
        await wait_toast(pilot, "Removed 2 worker rows; recovered 1 job of theirs: stuck")
        await wait_for(pilot, lambda: table.row_count == 1, "the live worker alone")
        assert ("prune", 0.0) in supervisor.calls
        await pilot.press("P")
        await wait_toast(pilot, "No stopped or lost worker to remove")
