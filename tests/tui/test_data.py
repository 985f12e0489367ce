"""The snapshot reader: filters pushed into SQL, a fixed window, totals that say what is hidden."""

from __future__ import annotations

import threading

import pytest

from queuectl.jobspec import JobSpec
from queuectl.lifecycle import enqueue as enqueuing
from queuectl.lifecycle import reads
from queuectl.states import SORTED_STATES
from queuectl.store.models import Job, JobState, database
from tests.conftest import T0
from tests.tui.conftest import seed_worker
from tui.cells import CELL_LIMIT, dlq_parts, job_parts
from tui.data import JobFilter, Request, Sort, parse_filter, read_snapshot


def test_a_filter_takes_the_states_as_the_queues_pane_names_them() -> None:
    """``state:running`` was refused, listing the states, for what the Queues pane heads
    "Running"; "Done" is its completed column."""
    assert parse_filter("state:running,done").states == (JobState.PROCESSING, JobState.COMPLETED)
    with pytest.raises(ValueError, match=r"use one of pending, .*, cancelled \(or running, done\)"):
        parse_filter("state:bogus")


def test_parse_filter_terms() -> None:
    parsed = parse_filter("state:failed,DEAD queue:mail nightly backup")
    assert parsed == JobFilter((JobState.FAILED, JobState.DEAD), "mail", "nightly backup")
    assert parsed.describe() == "state:failed,dead queue:mail nightly backup"
    assert not parse_filter("   ").active


def test_an_id_prefix_filter_round_trips() -> None:
    parsed = parse_filter("id:nightly: state:failed")
    assert parsed.id_prefix == "nightly:" and parsed.active
    assert parse_filter(parsed.describe()) == parsed


def test_parse_filter_refuses_text_longer_than_a_search_may_be() -> None:
    """A pasted log: SQLite refused the LIKE pattern as too complex."""
    assert parse_filter("x" * 4096).text == "x" * 4096
    with pytest.raises(ValueError, match="a search is at most 4,096 characters"):
        parse_filter("state:dead " + "%" * 4097)
    with pytest.raises(ValueError, match="an id: prefix is at most"):
        parse_filter("id:" + "a" * 5000)


def test_parse_filter_refuses_a_queue_no_queue_could_have() -> None:
    """A 20,000-character paste after ``queue:`` was taken, matching nothing, saying nothing."""
    assert parse_filter("queue:mail").queue == "mail"
    with pytest.raises(ValueError, match="a queue name must be 1-64 characters") as refused:
        parse_filter("queue:" + "q" * 20_000)
    # Quoted whole, the toast covered the screen and pushed its own words off it.
    assert str(refused.value).endswith("… (20,000 characters))") and len(str(refused.value)) < 200


def test_parse_filter_rejects_unknown_state() -> None:
    with pytest.raises(ValueError, match="unknown state 'nope'"):
        parse_filter("state:nope")


def test_window_is_newest_first_and_counts_the_rest(opened) -> None:
    enqueuing.enqueue_many(
        [JobSpec(command=f"echo {i}", id=f"j{i:04d}") for i in range(120)], now=T0, cwd="/"
    )
    snapshot = read_snapshot(Request(limit=50), T0)
    ids = [key for key, _ in snapshot.jobs.rows]
    assert len(ids) == 50 and snapshot.jobs.total == 120
    assert ids[0] == "j0119" and ids == sorted(ids, reverse=True)  # ties broken by id
    assert snapshot.counts["pending"] == 120


def test_queue_suggestions_include_queues_whose_jobs_are_older_than_the_window(opened) -> None:
    """The job form suggested only the queues of the rows read: ``images``, whose jobs all
    came before the window's 5, was missing though a worker serves it."""
    enqueuing.enqueue_many([JobSpec(command="true", queue="images")], now=T0, cwd="/")
    enqueuing.enqueue_many(
        [JobSpec(command="true", queue="mail") for _ in range(5)], now=T0 + 1, cwd="/"
    )
    seed_worker("w-1", queues="video,mail", heartbeat_at=T0)
    snapshot = read_snapshot(Request(limit=5), T0)
    assert {r["queue"] for r in snapshot.jobs.raw.values()} == {"mail"}
    assert snapshot.queue_names == {"default", "mail", "video"}
    counted = read_snapshot(Request(limit=5, queues=True), T0)
    assert counted.queue_names == {"default", "images", "mail", "video"}


def test_the_dlq_is_the_latest_deaths_of_the_whole_dlq(opened) -> None:
    """A job retried out of the DLQ that died again is an old enqueue: it comes first
    even when more dead jobs than the window holds were enqueued after it."""
    ids = enqueuing.enqueue_many([JobSpec(command=f"false {i}") for i in range(12)], now=T0)
    for index, job_id in enumerate(ids):  # the first enqueued died last
        died = T0 + (100 if index == 0 else index)
        Job.update(state="dead", finished_at=died).where(Job.id == job_id).execute()
    snapshot = read_snapshot(Request(limit=5), T0 + 200)
    assert [key for key, _ in snapshot.dlq.rows] == [ids[0], *reversed(ids[-4:])]
    assert snapshot.dlq.total == 12


def test_the_highlighted_jobs_are_read_after_the_windows_that_no_longer_hold_them(opened) -> None:
    """``keep_job`` / ``keep_dead``: the highlighted rows stay readable, while they match."""
    ids = [f"j{i:04d}" for i in range(12)]
    enqueuing.enqueue_many([JobSpec(command="x", id=job_id) for job_id in ids], now=T0, cwd="/")
    for index, job_id in enumerate(ids[:8]):
        Job.update(state="dead", finished_at=T0 + index).where(Job.id == job_id).execute()
    snapshot = read_snapshot(Request(limit=5, keep_job="j0001", keep_dead="j0000"), T0 + 100)
    assert [key for key, _ in snapshot.jobs.rows][-2:] == ["j0007", "j0001"]
    assert snapshot.jobs.total == 12 and len(snapshot.jobs.rows) == 6
    assert [key for key, _ in snapshot.dlq.rows] == [
        "j0007",
        "j0006",
        "j0005",
        "j0004",
        "j0003",
        "j0000",
    ]
    live = JobFilter(states=(JobState.PENDING,))
    kept = read_snapshot(Request(limit=2, job_filter=live, keep_job="j0001"), T0 + 100)
    assert "j0001" not in [key for key, _ in kept.jobs.rows]  # dead: no longer in the view
    in_window = read_snapshot(Request(limit=5, keep_job="j0010"), T0 + 100)
    assert len(in_window.jobs.rows) == 5  # held by the window already: not twice


def test_filter_is_applied_before_the_window(opened) -> None:
    enqueuing.enqueue_many([JobSpec(command=f"echo {i}") for i in range(30)], now=T0 - 10, cwd="/")
    enqueuing.enqueue_many([JobSpec(command="backup db", id="old-backup")], now=T0 - 999, cwd="/")
    Job.update(state="failed").where(Job.id == "old-backup").execute()
    request = Request(job_filter=parse_filter("state:failed backup"), limit=5)
    snapshot = read_snapshot(request, T0)
    assert [key for key, _ in snapshot.jobs.rows] == ["old-backup"]
    assert snapshot.jobs.total == 1


def test_sort_by_priority(opened) -> None:
    enqueuing.enqueue_many(
        [JobSpec(command="a", id="low"), JobSpec(command="b", id="high", priority=5)],
        now=T0,
        cwd="/",
    )
    snapshot = read_snapshot(Request(jobs_sort=Sort("priority", reverse=True)), T0)
    assert [key for key, _ in snapshot.jobs.rows] == ["high", "low"]


def test_a_sorted_window_is_the_first_jobs_in_that_order_of_all_that_match(opened) -> None:
    """The window was the newest 500 jobs, sorted: past 500 jobs, ``O`` (README: "oldest
    first") began at the 500th newest, and a sort by state never showed an older job in a
    state the newest lacked. Ties keep the newest first, in either direction."""
    enqueuing.enqueue_many([JobSpec(command="old", id="oldest")], now=T0 - 900, cwd="/")
    Job.update(state="cancelled").where(Job.id == "oldest").execute()
    enqueuing.enqueue_many(
        [JobSpec(command=f"echo {i}", id=f"j{i:02}") for i in range(12)], now=T0 - 10, cwd="/"
    )
    Job.update(created_at=T0 - 20 + Job.seq).where(Job.id != "oldest").execute()

    def window(sort: Sort) -> list[str]:
        return [key for key, _ in read_snapshot(Request(jobs_sort=sort, limit=4), T0).jobs.rows]

    assert window(Sort()) == ["j11", "j10", "j09", "j08"]
    assert window(Sort(reverse=True)) == ["oldest", "j00", "j01", "j02"]
    # By state: waiting before ended (``SORTED_STATES``), so the pending come first.
    assert window(Sort("state")) == ["j11", "j10", "j09", "j08"]
    assert window(Sort("state", reverse=True)) == ["oldest", "j11", "j10", "j09"]
    assert window(Sort("command", reverse=True)) == ["oldest", "j09", "j08", "j07"]


def test_a_sort_by_state_puts_running_and_waiting_jobs_before_ended_ones(opened) -> None:
    """Alphabetical put ``cancelled`` and ``completed`` first: a window of 500 completed
    jobs, and every running, failed and pending one out of it (an outside try)."""
    ids = [state.value for state in JobState]
    enqueuing.enqueue_many([JobSpec(command="true", id=name) for name in ids], now=T0, cwd="/")
    for name in ids:
        Job.update(state=name).where(Job.id == name).execute()
    rows = read_snapshot(Request(jobs_sort=Sort("state")), T0).jobs.rows
    assert [key for key, _ in rows] == [state.value for state in SORTED_STATES]
    rows = read_snapshot(Request(jobs_sort=Sort("state", reverse=True)), T0).jobs.rows
    assert [key for key, _ in rows] == [state.value for state in reversed(SORTED_STATES)]


def test_text_sorts_by_code_point(opened) -> None:
    assert_text_sorts_by_code_point()


def assert_text_sorts_by_code_point() -> None:
    """PostgreSQL's locale collation put "b-job" before "C-job" and ignored the dash;
    the window must be what the rows show sorted, as SQLite and Python order text
    (``test_on_postgres`` runs it there)."""
    commands = ["b-job", "C-job", "a job", "_x", "Ä"]
    enqueuing.enqueue_many(
        [JobSpec(command=c, id=f"k{i}") for i, c in enumerate(commands)], now=T0, cwd="/"
    )
    rows = read_snapshot(Request(jobs_sort=Sort("command"), limit=10), T0).jobs.raw
    assert [row["command"] for row in rows.values()] == sorted(commands)


def _dead(job_id: str, output: str, **fields: object) -> None:
    enqueuing.enqueue(JobSpec(command="./failing.sh", id=job_id), now=T0 - 60, cwd="/")
    Job.update(
        state="dead", finished_at=T0 - 5, last_error="exit 3", output=output, **fields
    ).where(Job.id == job_id).execute()


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ("starting\n\x1b[31mfailing 123\x1b[0m\n\n", "exit 3: failing 123"),  # colours dropped
        ("50%\r100%\rfailed at 100%\n", "exit 3: failed at 100%"),  # its latest update
        ("pwned \x1b]0;title\x07\u202e\n", "exit 3: pwned ␛]0;title␇\\u202e"),  # inert
        ("x" * 5000, "exit 3: …" + "x" * 290 + "…"),  # a tail read: it starts mid-line
        ("", "exit 3"),
        ("\n  \n", "exit 3"),
    ],
    ids=["colours", "progress", "escapes", "tail", "no-output", "blank"],
)
def test_the_dlq_error_ends_with_the_last_line_the_job_printed(opened, output, error) -> None:
    """The DLQ's Last error said ``exit 3``: what the job printed on its way out (its
    stderr) was in its detail screen only."""
    _dead("d", output)
    snapshot = read_snapshot(Request(), T0)
    assert snapshot.dlq.parts["d"][5] == (error, "red")


def test_a_window_reads_a_cut_command_and_error_however_long_the_rows(opened) -> None:
    """Rows written past queuectl's limits (a 4 MB command and error each) were read whole
    by every refresh: an open dashboard's memory grew by 600 MB a minute."""
    from queuectl.lifecycle.reads import WINDOW_TEXT

    huge = "A" * (WINDOW_TEXT * 50)
    enqueuing.enqueue(JobSpec(command="echo x", id="alive"), now=T0 - 60, cwd="/")
    _dead("big", "", command="echo " + huge)
    Job.update(last_error="E" * (WINDOW_TEXT * 50)).where(Job.id == "big").execute()
    snapshot = read_snapshot(Request(keep_job="big", keep_dead="big", limit=1), T0)
    for table in (snapshot.jobs, snapshot.dlq):
        row = table.raw["big"]  # in the window, or kept after it: cut alike
        assert row["command"] == ("echo " + huge)[:WINDOW_TEXT]
        assert row["last_error"] == "E" * WINDOW_TEXT
    assert Job.get_by_id("big").command == "echo " + huge  # stored as it was


def test_the_dlq_reads_the_output_of_new_deaths_only(opened, monkeypatch) -> None:
    """Each refresh read the end of 500 outputs, up to 64 KiB each, for lines that change
    only when the job runs again."""
    import tui.data as data

    _dead("d1", "one\n")
    _dead("d2", "two\n")
    first = read_snapshot(Request(), T0)
    asked: list[list[str]] = []
    real = data._output_tails
    monkeypatch.setattr(data, "_output_tails", lambda ids: asked.append(ids) or real(ids))
    Job.update(finished_at=T0 - 1, output="two again\n").where(Job.id == "d2").execute()
    second = read_snapshot(Request(previous=first), T0)
    assert asked == [["d2"]]
    assert [second.dlq.parts[key][5][0] for key in ("d1", "d2")] == [
        "exit 3: one",
        "exit 3: two again",
    ]


def test_unchanged_cells_are_reused_and_changed_ones_rebuilt(opened) -> None:
    """The next refresh hands the table the same cell objects where nothing changed."""
    enqueuing.enqueue_many(
        [JobSpec(command=f"echo {i}", id=f"j{i}") for i in range(3)], now=T0 - 5, cwd="/"
    )
    first = read_snapshot(Request(), T0)
    Job.update(state="completed").where(Job.id == "j1").execute()
    second = read_snapshot(Request(previous=first), T0)
    before, after = dict(first.jobs.rows), dict(second.jobs.rows)
    assert after["j0"] is before["j0"] and after["j2"] is before["j2"]
    assert after["j1"] is not before["j1"]
    assert after["j1"][0] is before["j1"][0]  # the id cell did not change
    assert str(after["j1"][1]) == "completed" and str(before["j1"][1]) == "pending"


def test_a_row_read_unchanged_keeps_its_parts_but_its_clock_moves(opened) -> None:
    """A row read as before is not remade (its id and command escaped again), yet its age
    and a running job's duration move on; a row that changed in any field is remade."""
    enqueuing.enqueue_many(
        [JobSpec(command=f"echo {i}", id=f"j{i}") for i in range(3)], now=T0 - 5, cwd="/"
    )
    Job.update(state="processing", started_at=T0 - 3, worker_id="w1").where(
        Job.id == "j0"
    ).execute()
    Job.update(state="dead", finished_at=T0 - 2, last_error="exit 1").where(
        Job.id == "j2"
    ).execute()
    first = read_snapshot(Request(), T0)
    Job.update(command="echo edited").where(Job.id == "j1").execute()
    later = T0 + 600
    second = read_snapshot(Request(previous=first), later)
    running, edited, dead = second.jobs.raw["j0"], second.jobs.raw["j1"], second.dlq.raw["j2"]
    assert second.jobs.parts["j0"] == job_parts(running, later)  # as if made anew
    assert second.jobs.parts["j0"][8] is first.jobs.parts["j0"][8]  # but reused
    assert second.jobs.parts["j0"][6] != first.jobs.parts["j0"][6]  # took: 3s, then 10m3s
    assert second.jobs.parts["j1"] == job_parts(edited, later)
    assert second.jobs.parts["j1"][8][0] == "echo edited"
    assert second.dlq.parts["j2"] == dlq_parts(dead, later)
    assert second.dlq.parts["j2"][5] is first.dlq.parts["j2"][5]
    assert second.dlq.parts["j2"][3] != first.dlq.parts["j2"][3]  # died: 2s, then 10m ago


def test_equal_new_cells_share_one_text_and_a_change_never_reuses_an_old_one(opened) -> None:
    """Cells are compared by identity, so sharing must stay within one refresh."""
    enqueuing.enqueue_many(
        [JobSpec(command="echo same", id=f"j{i}") for i in range(3)], now=T0 - 5, cwd="/"
    )
    first = read_snapshot(Request(), T0)
    rows = dict(first.jobs.rows)
    assert rows["j0"][1] is rows["j1"][1] is rows["j2"][1]  # "pending", made once
    assert rows["j0"][0] is not rows["j1"][0]
    second = read_snapshot(Request(previous=first), T0 + 60)  # every age moves on
    ages = {id(cells[5]) for cells in dict(second.jobs.rows).values()}
    assert len(ages) == 1
    assert ages.isdisjoint(id(cells[5]) for cells in rows.values())


def test_the_command_column_is_measured_in_terminal_cells(opened) -> None:
    enqueuing.enqueue_many([JobSpec(command="echo 你好", id="wide")], now=T0, cwd="/")
    widths = read_snapshot(Request(), T0).jobs.widths
    assert widths[-1] == len("echo ") + 4  # each of the two characters takes two cells


def test_the_read_does_not_depend_on_the_screen(opened) -> None:
    """Commands are kept whole (up to ``CELL_LIMIT``): the table cuts them to its width."""
    enqueuing.enqueue_many([JobSpec(command="echo " + "x" * 400, id="long")], now=T0, cwd="/")
    command = str(dict(read_snapshot(Request(), T0).jobs.rows)["long"][-1])
    assert len(command) == CELL_LIMIT and command.endswith("…")


def test_the_largest_state_counted_by_difference_gives_the_same_totals(opened, monkeypatch) -> None:
    monkeypatch.setattr("tui.data.LARGE_STATE", 2)
    enqueuing.enqueue_many([JobSpec(command=f"echo {i}") for i in range(12)], now=T0, cwd="/")
    Job.update(state="completed").where(Job.id.in_(Job.select(Job.id).limit(8))).execute()
    first = read_snapshot(Request(limit=5), T0)
    Job.update(state="dead").where(Job.state == "pending").execute()
    second = read_snapshot(Request(limit=5, previous=first), T0)
    assert second.counts == reads.counts()
    assert second.counts["completed"] == 8 and second.counts["dead"] == 4
    assert second.jobs.total == 12 and second.dlq.total == 4


def test_a_request_leaves_the_previous_snapshot_out_of_its_repr(opened) -> None:
    """Textual may describe the refresh worker by its argument: that must stay cheap."""
    enqueuing.enqueue_many([JobSpec(command=f"echo {i}") for i in range(200)], now=T0, cwd="/")
    previous = read_snapshot(Request(), T0)
    assert len(repr(Request(previous=previous))) < 500


def assert_the_snapshot_is_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job committed between the snapshot's statements is in none of them."""
    enqueuing.enqueue_many([JobSpec(command=f"echo {i}") for i in range(3)], now=T0 - 5, cwd="/")
    real_counts = reads.counts

    def enqueue_elsewhere() -> None:
        enqueuing.enqueue_many([JobSpec(command="echo late")], now=T0, cwd="/")
        database.close()

    def counts_then_a_commit(**kwargs: str | None) -> dict[str, int]:
        counts = real_counts(**kwargs)
        writer = threading.Thread(target=enqueue_elsewhere)
        writer.start()
        writer.join()
        return counts

    monkeypatch.setattr(reads, "counts", counts_then_a_commit)
    snapshot = read_snapshot(Request(), T0)
    assert snapshot.counts["pending"] == 3
    assert len(snapshot.jobs.rows) == snapshot.jobs.total == 3
    assert Job.select().count() == 4  # the late job did commit


def test_the_snapshot_is_one_read_on_sqlite(opened, monkeypatch) -> None:
    assert_the_snapshot_is_one_read(monkeypatch)


def test_a_given_back_run_is_not_counted_as_a_job_that_ended(opened) -> None:
    """K on three running jobs: they went back to pending, and the header's rate rose
    (0.0 → 0.6 jobs/min) with nothing finished; the Queues pane's counts likewise."""
    from tests.tui.conftest import seed_job, seed_run

    seed_job("done", state="completed")
    seed_run("done", finished_at=T0 - 5, outcome="succeeded")
    for n in range(3):
        seed_job(f"back{n}", state="pending")
        seed_run(f"back{n}", finished_at=T0 - 5, outcome="interrupted")
    from queuectl.lifecycle import queues

    snapshot = read_snapshot(Request(limit=50), T0)
    assert sum(snapshot.throughput) == 1
    [default] = queues.figures(now=T0, sparkline=True)
    assert (default.finished_5m, sum(default.throughput)) == (1, 1)


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("id:", "id: needs a value, like id:nightly:"),
        ("queue: mail", "queue: needs a value, like queue:mail"),
        ("STATE:", "state: needs a value, like state:failed,dead"),
    ],
)
def test_a_filter_key_with_no_value_is_refused(typed, said) -> None:
    """``id:`` alone was searched for as text, matched nothing and said nothing."""
    with pytest.raises(ValueError, match=said):
        parse_filter(typed)


def test_unserved_queues_are_read_each_refresh_while_few_jobs_wait(opened) -> None:
    seed_worker("w-d", queues="default")
    enqueuing.enqueue(JobSpec(command="true", id="r1", queue="reports"), now=T0, cwd="/")
    first = read_snapshot(Request(), T0)
    assert first.unserved.queues == {"reports": 1}
    enqueuing.enqueue(JobSpec(command="true", id="m1", queue="mail"), now=T0, cwd="/")
    second = read_snapshot(Request(previous=first), T0 + 1)
    assert second.unserved.queues == {"mail": 1, "reports": 1}


def test_unserved_queues_are_reused_for_a_while_once_many_jobs_wait(opened, monkeypatch) -> None:
    """Counting every waiting job by queue costs 30 ms at 100,000: past LARGE_STATE the
    count is reused for UNSERVED_EVERY seconds, unless the workers' queues changed."""
    monkeypatch.setattr("tui.data.LARGE_STATE", 1)
    seed_worker("w-d", queues="default")
    for _ in range(2):
        enqueuing.enqueue(JobSpec(command="true", queue="reports"), now=T0, cwd="/")
    first = read_snapshot(Request(), T0)
    assert first.unserved.queues == {"reports": 2}
    enqueuing.enqueue(JobSpec(command="true", queue="mail"), now=T0, cwd="/")
    reused = read_snapshot(Request(previous=first), T0 + 5)
    assert reused.unserved is first.unserved
    later = read_snapshot(Request(previous=reused), T0 + 10)
    assert later.unserved.queues == {"mail": 1, "reports": 2}
    seed_worker("w-m", queues="mail")  # a worker for mail shows at the next refresh
    served = read_snapshot(Request(previous=later), T0 + 11)
    assert served.unserved.queues == {"reports": 2}


def test_a_worker_asked_to_stop_serves_nothing_and_held_jobs_wait_for_no_worker(opened) -> None:
    """A queue whose only worker was stopping, through a 40 s job, showed no warning while
    its next job waited; a queue whose only job was held was named as needing a worker."""
    seed_worker("w-s", queues="slowq", stop_requested="graceful")
    seed_worker("w-d", queues="default")
    enqueuing.enqueue(JobSpec(command="true", id="s1", queue="slowq"), now=T0, cwd="/")
    enqueuing.enqueue(JobSpec(command="true", id="h1", queue="heldq"), now=T0, cwd="/")
    Job.update(held_at=T0).where(Job.id == "h1").execute()
    assert read_snapshot(Request(), T0).unserved.queues == {"slowq": 1}


def test_with_no_live_worker_every_queue_with_waiting_jobs_is_unserved(opened) -> None:
    seed_worker("w-gone", queues="default", heartbeat_at=T0 - 300)  # lost: serves nothing
    seed_worker("w-stopped", queues="default", state="stopped", stopped_at=T0 - 10)
    enqueuing.enqueue(JobSpec(command="true", id="d1"), now=T0, cwd="/")
    assert read_snapshot(Request(), T0).unserved.queues == {"default": 1}
