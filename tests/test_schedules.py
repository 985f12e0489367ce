"""Schedules with an injected clock: ticks, @every, catch-up, overlap, DST, pause, one fire.

``fire_due(now)`` is what every live worker calls; here the tests call it with
the times they choose, as a worker that woke for each tick would, so a year of
ticks takes milliseconds and nothing waits on the wall clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from queuectl import cronspec
from queuectl.errors import DuplicateSchedule, ScheduleNotFound, ValidationError
from queuectl.jobspec import env_from_json
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import schedules
from queuectl.store import db
from queuectl.store.models import Job, JobState, RunOutcome
from tests.conftest import T0, dump, end_attempt
from tests.together import run_together

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def add(name: str, spec: str, *, now: float = T0, job: str = '{"command": "true"}', **opts):
    return schedules.add(name, schedules.validate(spec=spec, job=job, **opts), now=now)


def fired(name: str) -> list[str]:
    return sorted(job.id for job in Job.select().where(Job.id.startswith(f"{name}:")))


def run_clock(until: float, *, start: float = T0) -> None:
    """Call ``fire_due`` at every tick from ``start`` to ``until``, as woken workers do."""
    now = start
    while True:
        report = schedules.fire_due(now)
        if report.next_at is None or report.next_at > until:
            return
        now = report.next_at


# --- the rules, pure --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("61 * * * *", "invalid cron spec '61 * * * *': bad minute"),
        # cronsim took these as "the first value only": "Every 1000000000000000000th minute".
        ("*/1000000000000000000 * * * *", "bad minute: a step of 1000000000000000000 is more"),
        ("0 */25 * * *", "bad hour: a step of 25 is more than its 24 values"),
        ("*/61 * * * * *", "bad second: a step of 61"),
        ("0 0 * * */8", "bad day-of-week: a step of 8 is more than its 7 values"),
        ("0 0 31 2 *", "bad day-of-month"),
        ("0 0 30 2 *", "bad day-of-month"),
        ("* * *", "has 3"),
        ("@every 0s", "at least 1s"),
        ("@every 1.5s", "whole number of seconds"),
        ("@every", "needs a duration"),
        ("@every soon", "duration like"),
        ("@often", "unknown shortcut '@often'"),
        ("@reboot", "@reboot is not a schedule here: schedules fire on live workers"),
        ("", "must not be empty"),
    ],
)
def test_bad_specs_are_refused_in_one_line(spec, message):
    with pytest.raises(ValidationError, match=message.replace("*", r"\*")) as caught:
        cronspec.parse_rule(spec)
    assert "\n" not in str(caught.value)


def test_a_step_as_large_as_its_field_is_taken_and_a_stored_larger_one_still_reads():
    """``*/60`` minutes is every hour at :00, as it reads; a schedule stored before larger
    steps were refused still fires and lists."""
    assert cronspec.parse_rule("*/60 * * * *").next_after(0) == 3600
    assert cronspec.parse_rule("0 */24 * * *").next_after(0) == 86400
    stored = cronspec.parse_rule("*/100 * * * *", stored=True)
    assert stored.next_after(0) == 3600


def test_an_outage_longer_than_the_scan_still_catches_up_within_the_window():
    """Past 20,000 missed ticks the scan jumped to now, keeping the 20,000th tick (days
    old) as the latest missed: a per-minute schedule with --catchup 1h, down 20 days,
    never caught up."""
    minutely = cronspec.parse_rule("* * * * *")
    due = utc(2027, 1, 1)
    now = utc(2027, 1, 21, 0, 0, 40)
    caught = cronspec.plan(minutely, due, now, catchup=3600, grace=15)
    assert caught.fire == (utc(2027, 1, 21, 0, 0),)
    assert caught.next_fire_at == utc(2027, 1, 21, 0, 1)
    # 28,800 ticks were missed: 20,000 counted, the jump, then the window's 59.
    assert (caught.skipped, caught.counted_all) == (cronspec.SCAN_LIMIT + 59, False)
    none = cronspec.plan(minutely, due, now, catchup=0, grace=15)
    assert none.fire == () and none.next_fire_at == utc(2027, 1, 21, 0, 1)
    assert (none.skipped, none.counted_all) == (cronspec.SCAN_LIMIT, False)
    short = cronspec.plan(minutely, utc(2027, 1, 20, 23), now, catchup=0, grace=15)
    assert (short.skipped, short.counted_all) == (61, True)  # 23:00 to 00:00: exact


def test_cron_ticks_aliases_and_six_fields_with_seconds_first():
    start = utc(2026, 12, 3, 14, 29, 50)
    rule = cronspec.parse_rule("*/15 * * * *")
    assert rule.next_after(start) == utc(2026, 12, 3, 14, 30)
    seconds = cronspec.parse_rule("*/20 * * * * *")
    ticks = seconds.ticks_after(start)
    assert [next(ticks) for _ in range(3)] == [utc(2026, 12, 3, 14, 30, s) for s in (0, 20, 40)]
    assert cronspec.parse_rule("@hourly").next_after(start) == utc(2026, 12, 3, 15)
    assert cronspec.parse_rule("@daily").next_after(start) == utc(2026, 12, 4)
    assert cronspec.tick_id("nightly", utc(2026, 12, 3, 14, 30)) == "nightly:20261203T143000Z"


def test_every_counts_from_its_anchor_second():
    rule = cronspec.parse_rule("@every 1h30m", anchor=T0 + 0.7)
    assert rule.every == 5400 and rule.anchor == T0
    assert rule.next_after(T0) == T0 + 5400
    assert rule.next_after(T0 + 5400) == T0 + 10800
    assert rule.explain() == "Every 1h30m"


def test_cronsim_explains_the_spec_in_words():
    assert cronspec.parse_rule("30 2 * * *").explain() == "At 02:30 every day"
    assert cronspec.parse_rule("0 9 * * 1-5").explain() == "At 09:00 on Monday through Friday"


def test_zones_and_names_are_checked():
    assert cronspec.zone_name("Europe/Berlin") == "Europe/Berlin"
    assert cronspec.zone_name("utc") == "UTC"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        cronspec.zone_name("Mars/Olympus")
    with pytest.raises(ValidationError, match="1-40 characters"):
        cronspec.schedule_name("a" * 41)


def test_a_missed_tick_older_than_the_grace_is_skipped_unless_within_the_catchup():
    hourly = cronspec.parse_rule("0 * * * *")
    due = utc(2026, 12, 3, 10)
    now = utc(2026, 12, 3, 15, 10)  # five hours and ten minutes later: six ticks missed
    none = cronspec.plan(hourly, due, now, catchup=0, grace=15)
    assert none.fire == () and none.skipped == 6 and none.next_fire_at == utc(2026, 12, 3, 16)
    caught = cronspec.plan(hourly, due, now, catchup=2 * 3600, grace=15)
    assert caught.fire == (utc(2026, 12, 3, 15),) and caught.skipped == 5
    too_old = cronspec.plan(hourly, due, now, catchup=300, grace=15)
    assert too_old.fire == () and too_old.skipped == 6
    # @every jumps a long outage by arithmetic: a year of seconds, counted exactly.
    every = cronspec.parse_rule("@every 1s", anchor=T0)
    year = cronspec.plan(every, T0 + 1, T0 + 1 + 365 * 86400, catchup=0, grace=15)
    assert year.skipped == 365 * 86400 - 15 and len(year.fire) == 16


# --- fires in the database --------------------------------------------------------------


def test_every_fires_one_job_per_tick_whoever_asks_and_however_often(opened):
    add("ping", "@every 30s", job='{"command": "echo hi", "queue": "ops", "priority": 3}')
    assert schedules.fire_due(T0 + 29).fires == []
    first = schedules.fire_due(T0 + 30)
    assert first.enqueued == [cronspec.tick_id("ping", T0 + 30)] and first.next_at == T0 + 60
    # A second worker asking at the same moment, or a moment later, finds nothing to do.
    assert schedules.fire_due(T0 + 30).fires == []
    assert schedules.fire_due(T0 + 30.5).fires == []
    job = Job.get_by_id("ping:20261118T110710Z")  # T0 + 30 s
    assert (job.queue, job.priority, job.command) == ("ops", 3, "echo hi")
    assert env_from_json(job.env) == {
        "QUEUECTL_CRON_NAME": "ping",
        "QUEUECTL_CRON_TS": "2026-11-18T11:07:10Z",
    }
    view = schedules.get("ping")
    assert (view.last_job_id, view.last_job_state, view.next_fire_at) == (
        job.id,
        "pending",
        T0 + 60,
    )


def _adds_at_once(name: str, count: int) -> list[str]:
    """``count`` adds of ``name`` released together (``run_together``): what each came to."""
    outcomes = run_together([partial(add, name, "@daily")] * count)
    return [
        "duplicate"
        if isinstance(outcome, DuplicateSchedule)
        else repr(outcome)
        if isinstance(outcome, BaseException)
        else "added"
        for outcome in outcomes
    ]


def test_adds_of_one_name_at_once_make_one_schedule_and_say_so_to_the_rest(opened):
    """On PostgreSQL two adds both found the name free: one of ten printed the key's
    "duplicate key value violates unique constraint" instead of "already exists"."""
    for round_ in range(12):
        outcomes = _adds_at_once(f"race{round_}", 6)
        assert sorted(outcomes) == ["added"] + ["duplicate"] * 5, outcomes


def test_a_stale_reader_loses_the_guarded_update(opened, monkeypatch):
    """Two workers read the schedule at once; the one whose update comes second fires
    nothing, because the tick it read is no longer the stored one."""
    add("race", "@every 10s")
    original = schedules.plan
    calls = []

    def interleaved(rule, due_at, now, **kwargs):
        if not calls:
            calls.append(due_at)
            # the other worker fires this very tick while we are deciding
            monkeypatch.setattr(schedules, "plan", original)
            assert schedules._fire_one("race", now, 15.0)[0].job_id == cronspec.tick_id(
                "race", T0 + 10
            )
        return original(rule, due_at, now, **kwargs)

    monkeypatch.setattr(schedules, "plan", interleaved)
    # Our own read happened before the other's commit: simulate it with a stale row.
    row = schedules.Schedule.get_by_id("race")
    monkeypatch.setattr(schedules.Schedule, "get_or_none", classmethod(lambda cls, *a: row))
    assert schedules._fire_one("race", T0 + 10, 15.0) == []
    assert fired("race") == [cronspec.tick_id("race", T0 + 10)]


def test_overlap_skip_waits_for_the_last_fire_and_allow_does_not(opened):
    add("slow", "@every 10s")
    add("many", "@every 10s", overlap="allow")
    schedules.fire_due(T0 + 10)
    schedules.fire_due(T0 + 20)  # slow's first job is still pending: skipped and counted
    assert fired("slow") == [cronspec.tick_id("slow", T0 + 10)]
    assert len(fired("many")) == 2
    assert schedules.get("slow").skipped == 1
    while claim := claiming.claim("w1", now=T0 + 21):
        end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0, now=T0 + 22)
    schedules.fire_due(T0 + 30)
    assert fired("slow") == [cronspec.tick_id("slow", T0 + 10), cronspec.tick_id("slow", T0 + 30)]
    assert schedules.get("slow").last_job_state == JobState.PENDING


def test_ticks_due_together_fire_the_newest_under_overlap_skip(opened):
    """Workers starting 12 s into an @every 5s schedule: both ticks are on time, but the
    first fire would make the second overlap it, so the newest fires and one is skipped."""
    add("ev", "@every 5s")
    add("all", "@every 5s", overlap="allow")
    schedules.fire_due(T0 + 12)
    assert fired("ev") == [cronspec.tick_id("ev", T0 + 10)]
    assert schedules.get("ev").skipped == 1
    assert fired("all") == [cronspec.tick_id("all", T0 + 5), cronspec.tick_id("all", T0 + 10)]


def test_catchup_after_no_worker_was_alive(db_path):
    db.open_database(db_path)
    add("hourly", "0 * * * *", now=utc(2026, 12, 3, 9, 30), catchup="2h")
    add("strict", "0 * * * *", now=utc(2026, 12, 3, 9, 30))
    schedules.fire_due(utc(2026, 12, 3, 15, 10))  # the first live worker since 09:30
    assert fired("hourly") == ["hourly:20261203T150000Z"]
    assert fired("strict") == []
    assert [schedules.get(n).skipped for n in ("hourly", "strict")] == [5, 6]
    assert schedules.get("strict").next_fire_at == utc(2026, 12, 3, 16)


def test_a_tick_due_while_live_workers_rode_out_an_outage_fires_once_when_it_ends(opened):
    """No --catchup, a 35 s database restart over 02:30: the tick was dropped as "missed",
    though workers were alive all along (an operator's try: a nightly backup lost to a
    routine restart). The latest tick of the outage fires once; a worker that has just
    started (never looked) still judges by the grace alone."""
    add("nightly", "30 2 * * *", now=utc(2026, 12, 3, 1))
    add("fresh", "30 2 * * *", now=utc(2026, 12, 3, 1))
    add("often", "@every 5s", now=utc(2026, 12, 3, 2, 29, 50), overlap="allow")
    back = utc(2026, 12, 3, 2, 30, 25)
    report = schedules.fire_due(back, looked_at=utc(2026, 12, 3, 2, 29, 50))
    assert fired("nightly") == ["nightly:20261203T023000Z"]
    # An @every 5s fires its last on-time ticks, the older ones of the outage skipped.
    assert fired("often") == [
        "often:20261203T023010Z",
        "often:20261203T023015Z",
        "often:20261203T023020Z",
        "often:20261203T023025Z",
    ]
    assert schedules.get("often").skipped == 3
    Job.delete().where(Job.id.startswith("fresh:")).execute()
    schedules.Schedule.update(next_fire_at=utc(2026, 12, 3, 2, 30)).where(
        schedules.Schedule.name == "fresh"
    ).execute()
    schedules.fire_due(back)
    assert fired("fresh") == [] and schedules.get("fresh").skipped == 1
    assert report.fires and all(not fire.broken for fire in report.fires)


def test_a_firer_passes_when_it_last_looked_so_an_outage_drops_no_tick(opened, monkeypatch):
    """The worker's firer: its looks go through until the database is away; at the first
    look after, the tick due meanwhile fires."""
    from queuectl.errors import StoreUnavailable
    from queuectl.runtime.firing import ScheduleFirer

    add("nightly", "30 2 * * *", now=utc(2026, 12, 3, 1))
    firer = ScheduleFirer()
    firer.tick(utc(2026, 12, 3, 2, 29, 50))

    def away(*args, **kwargs):
        raise StoreUnavailable("Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(schedules, "fire_due", away)
        with pytest.raises(StoreUnavailable):
            firer.tick(utc(2026, 12, 3, 2, 30, 1))
    assert firer.tick(utc(2026, 12, 3, 2, 31)) is True
    assert fired("nightly") == ["nightly:20261203T023000Z"]


def test_a_gap_between_looks_with_no_outage_keeps_to_the_catchup(opened):
    """Only an outage the firer saw widens the catch-up: a laptop asleep three days with
    its worker alive (no statement failed) fired the 02:30 backup that ``--catchup 6h``
    says to skip after 08:30 (a reviewer's find)."""
    from queuectl.runtime.firing import ScheduleFirer

    add("backup", "30 2 * * *", now=utc(2026, 12, 3, 0, 30), catchup="6h")
    firer = ScheduleFirer()
    firer.tick(utc(2026, 12, 3, 1))
    firer.tick(utc(2026, 12, 6, 10))
    assert fired("backup") == [] and schedules.get("backup").skipped == 4


def test_a_worker_that_waited_for_the_database_at_its_start_fires_the_ticks_it_waited_through(
    opened,
):
    """Started as the server restarted at 02:29:50 (``worker run`` waits for it), the
    worker's first look at 02:30:40 is its firer's first: the 02:30 tick was dropped as
    missed, though the worker had been there since before it."""
    from queuectl.runtime.firing import ScheduleFirer

    add("nightly", "30 2 * * *", now=utc(2026, 12, 3, 1))
    add("strict", "30 2 * * *", now=utc(2026, 12, 3, 1))
    ScheduleFirer().tick(utc(2026, 12, 3, 2, 30, 40))  # a worker that just started
    assert fired("strict") == [] and fired("nightly") == []
    schedules.Schedule.update(next_fire_at=utc(2026, 12, 3, 2, 30)).where(
        schedules.Schedule.name == "nightly"
    ).execute()
    ScheduleFirer(away_since=utc(2026, 12, 3, 2, 29, 50)).tick(utc(2026, 12, 3, 2, 30, 40))
    assert fired("nightly") == ["nightly:20261203T023000Z"]


def test_ticks_due_together_behind_an_active_fire_are_all_skipped_for_it(opened):
    """Under overlap skip, with the last fire still running when several ticks were due:
    it logged "the newest due tick (…) fired instead", then skipped that one too, so the
    job it named never existed."""
    add("ov", "@every 3s")
    schedules.fire_due(T0 + 3)
    report = schedules.fire_due(T0 + 10)  # ticks 6 and 9 due together, ov:…03 pending
    [fire] = report.fires
    assert (fire.skipped, fire.job_id) == (2, None)
    assert fire.reason == f"{cronspec.tick_id('ov', T0 + 3)} still active"
    assert fired("ov") == [cronspec.tick_id("ov", T0 + 3)]


def test_dst_in_berlin_02_30_fires_once_when_clocks_go_back_and_is_not_lost_going_forward(
    db_path,
):
    db.open_database(db_path)
    add("back", "30 2 * * *", now=berlin(2026, 10, 24, 12), zone="Europe/Berlin", overlap="allow")
    run_clock(berlin(2026, 10, 26, 12), start=berlin(2026, 10, 24, 12))
    # 02:30 happened twice on 2026-10-25 (CEST, then CET): one job, at the first.
    assert fired("back") == ["back:20261025T003000Z", "back:20261026T013000Z"]

    add("fwd", "30 2 * * *", now=berlin(2026, 3, 28, 12), zone="Europe/Berlin", overlap="allow")
    run_clock(berlin(2026, 3, 30, 12), start=berlin(2026, 3, 28, 12))
    # 02:30 did not exist on 2026-03-29: it fires at 03:00 CEST (01:00Z), not never.
    assert fired("fwd") == ["fwd:20260329T010000Z", "fwd:20260330T003000Z"]
    assert schedules.get("back").skipped == schedules.get("fwd").skipped == 0


def test_dst_rules_hold_for_a_six_field_spec_with_seconds_0(db_path):
    """``0 30 2 * * *`` is ``30 2 * * *`` said with seconds; cronsim keeps Debian's DST
    rules to five fields, so it fired twice going back and never going forward."""
    db.open_database(db_path)
    add(
        "back6", "0 30 2 * * *", now=berlin(2026, 10, 24, 12), zone="Europe/Berlin", overlap="allow"
    )
    run_clock(berlin(2026, 10, 26, 12), start=berlin(2026, 10, 24, 12))
    assert fired("back6") == ["back6:20261025T003000Z", "back6:20261026T013000Z"]
    add("fwd6", "0 30 2 * * *", now=berlin(2026, 3, 28, 12), zone="Europe/Berlin", overlap="allow")
    run_clock(berlin(2026, 3, 30, 12), start=berlin(2026, 3, 28, 12))
    assert fired("fwd6") == ["fwd6:20260329T010000Z", "fwd6:20260330T003000Z"]
    assert schedules.get("fwd6").spec == "0 30 2 * * *"  # kept as typed


def test_a_paused_schedule_fires_nothing_and_resumes_from_the_next_tick(opened):
    add("p", "@every 10s")
    schedules.pause("p", now=T0 + 5)
    run_clock(T0 + 100)
    assert fired("p") == [] and schedules.fire_due(T0 + 100).next_at is None
    view = schedules.resume("p", now=T0 + 101)
    assert view.next_fire_at == T0 + 110 and not view.paused
    schedules.fire_due(T0 + 110)
    assert fired("p") == [cronspec.tick_id("p", T0 + 110)] and schedules.get("p").skipped == 0


def test_run_now_is_outside_the_schedule_and_never_takes_a_ticks_id(opened):
    add("r", "@every 10s")
    job_id = schedules.run_now("r", now=T0 + 10)
    assert (
        job_id.startswith(cronspec.tick_id("r", T0 + 10) + ".run")
        and len(job_id) == len("r:") + 16 + 6
    )
    assert schedules.fire_due(T0 + 10).fires[0].reason == f"{job_id} still active"


@pytest.mark.parametrize("ends_first", ["the run", "the tick's fire"])
def test_skip_waits_for_a_ticks_fire_and_a_cron_run_beside_it(opened, ends_first):
    """``cron run`` replaced the tick's running fire as the one skip waited for: once the
    run was cancelled, the next tick fired beside that fire (two backups at once); and
    the first fix, keeping the tick's fire instead, let the next tick fire beside the run
    once the tick's fire ended first (a reviewer's catch). Skip waits for both."""
    add("b", "@every 10s")
    schedules.fire_due(T0 + 10)
    tick_fire = cronspec.tick_id("b", T0 + 10)
    assert claiming.claim("w1", now=T0 + 11).job.id == tick_fire
    manual = schedules.run_now("b", now=T0 + 12)
    assert schedules.get("b").last_job_id == manual  # LAST JOB: the run
    ended, running = (manual, tick_fire) if ends_first == "the run" else (tick_fire, manual)
    Job.update(state=JobState.CANCELLED.value).where(Job.id == ended).execute()
    [skip] = schedules.fire_due(T0 + 20).fires
    assert skip.job_id is None and skip.reason == f"{running} still active"
    Job.update(state=JobState.COMPLETED.value).where(Job.id == running).execute()
    [fire] = schedules.fire_due(T0 + 30).fires
    assert fire.job_id == cronspec.tick_id("b", T0 + 30)


def test_the_last_fire_is_when_it_was_fired_not_its_tick(opened):
    """A tick fired late (a catch-up at 08:00 for 02:30, or after an outage) read "last
    fire 5h ago" while its job ran: the time is the fire's, the tick is in its id."""
    add("late", "@every 10s")
    schedules.fire_due(T0 + 14)
    view = schedules.get("late")
    assert view.last_job_id == cronspec.tick_id("late", T0 + 10)
    assert view.last_fired_at == T0 + 14


def test_edit_remove_and_their_errors(opened):
    add("e", "@every 10s")
    with pytest.raises(DuplicateSchedule, match="'e' already exists"):
        add("e", "@daily")
    view = schedules.edit("e", schedules.validate(spec="0 12 * * *", zone="Europe/Berlin"), now=T0)
    assert view.next_fire_at == berlin(2026, 11, 19, 12) and view.zone == "Europe/Berlin"
    view = schedules.edit("e", schedules.validate(job='{"command": "date"}', overlap="allow"))
    assert view.job["command"] == "date" and view.overlap == "allow"
    schedules.remove("e")
    for action in (schedules.get, schedules.pause, schedules.run_now, schedules.remove):
        with pytest.raises(ScheduleNotFound, match="no schedule named 'e'"):
            action("e")


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ('{"command": "x", "id": "mine"}', 'may not set "id"'),
        ('{"command": "x", "run_at": 5}', 'may not set "run_at"'),
        ('{"command": "x", "delay": "5s"}', 'may not set "delay"'),
        ('{"command": "x", "held": true}', 'may not set "held"'),
        ('{"command": "x", "env": {"QUEUECTL_CRON_NAME": "x"}}', "QUEUECTL_CRON_NAME"),
        ('{"command": ""}', '"command" must not be empty'),
        ("[1]", "must be a JSON object"),
        ("{", "invalid JSON"),
    ],
)
def test_a_bad_job_stores_nothing(opened, job, message):
    before = dump(opened)
    with pytest.raises(ValidationError, match=message):
        add("bad", "@daily", job=job)
    assert dump(opened) == before


def test_the_job_template_keeps_the_cwd_it_was_added_in(opened, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    view = add("here", "@every 5s")
    assert view.job == {"command": "true", "cwd": str(tmp_path)}
    schedules.fire_due(T0 + 5)
    assert Job.get_by_id(cronspec.tick_id("here", T0 + 5)).cwd == str(tmp_path)
    assert json.loads(json.dumps(view.record()))["tz"] == "UTC"


def test_the_worker_wakes_for_the_next_tick_and_never_spins_on_a_stuck_one(opened, monkeypatch):
    from queuectl.runtime.firing import ScheduleFirer

    add("soon", "@every 5s")
    firer = ScheduleFirer()
    assert firer.tick(T0) is False and firer.wait_limit(T0) == 1.0
    assert firer.tick(T0 + 4.5) is False and firer.wait_limit(T0 + 4.5) == 0.5  # the tick
    assert firer.tick(T0 + 5) is True  # enqueued: the worker looks for work at once
    # A schedule left due (its spec unreadable here) is looked at once a second, no faster.
    schedules.Schedule.update(spec="@every nonsense", next_fire_at=T0 + 6).execute()
    assert firer.tick(T0 + 6) is False and firer.wait_limit(T0 + 6) == 1.0


def test_a_missing_cwd_is_refused_on_sqlite_and_warned_about_on_postgres(opened):
    change = schedules.validate(spec="@daily", job='{"command": "x", "cwd": "/nonexistent/dir"}')
    warnings: list[str] = []
    if opened.startswith("postgresql"):
        schedules.add("elsewhere", change, now=T0, warn=warnings.append)
        assert "not a directory on this host" in warnings[0]
    else:
        with pytest.raises(ValidationError, match="is not a directory on this host"):
            schedules.add("elsewhere", change, now=T0, warn=warnings.append)
        assert schedules.list_schedules() == []


def test_a_tick_whose_unique_key_is_held_is_skipped_and_counted(opened):
    """The refused fire went up to the worker and ended it, on every host, each restart
    too; under overlap allow the schedule's own last fire holds the key."""
    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import enqueue as enqueuing

    enqueuing.enqueue(JobSpec(command="true", id="holder", unique_key="k"), now=T0)
    add("held", "@every 10s", job='{"command": "true", "unique_key": "k"}')
    add("own", "@every 10s", job='{"command": "true", "unique_key": "k2"}', overlap="allow")
    report = schedules.fire_due(T0 + 10)
    assert report.enqueued == [cronspec.tick_id("own", T0 + 10)]
    [skip] = [fire for fire in report.fires if fire.name == "held"]
    assert (skip.skipped, skip.reason) == (1, "unique key 'k' is held by job holder (pending)")
    schedules.fire_due(T0 + 20)  # own's first fire still holds k2
    assert fired("own") == [cronspec.tick_id("own", T0 + 10)]
    assert [schedules.get(name).skipped for name in ("held", "own")] == [2, 1]
    assert fired("held") == []


def test_a_fire_that_fails_is_logged_once_and_the_worker_serves_on(opened, monkeypatch, caplog):
    from queuectl.errors import QueueError
    from queuectl.runtime.firing import ScheduleFirer

    def refused(_now: float, **_kwargs: object) -> None:
        raise QueueError("something no one foresaw")

    monkeypatch.setattr(schedules, "fire_due", refused)
    firer = ScheduleFirer()
    with caplog.at_level("ERROR", logger="queuectl.worker"):
        assert firer.tick(T0) is False
        assert firer.tick(T0 + 1) is False
    assert [record.getMessage() for record in caplog.records] == [
        "schedules: cannot fire the due ticks: something no one foresaw"
    ]


def test_a_job_enqueued_under_a_ticks_id_is_not_taken_for_its_fire(opened):
    """``add --id col:20261205T164409Z`` was taken for that tick's fire: no fire, and under
    overlap skip it blocked the schedule until it ended (an hour, delayed)."""
    from queuectl.jobspec import JobSpec
    from queuectl.lifecycle import enqueue as enqueuing

    add("col", "@every 10s")
    squatter = cronspec.tick_id("col", T0 + 10)
    enqueuing.enqueue(JobSpec(command="true", id=squatter, delay=3600), now=T0)
    report = schedules.fire_due(T0 + 10)
    [skip] = report.fires
    assert skip.skipped == 1 and "was not fired by it" in skip.reason
    assert schedules.get("col").last_job_id is None
    assert schedules.fire_due(T0 + 20).enqueued == [cronspec.tick_id("col", T0 + 20)]


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("zone", "Nowhere/Zone", "time zone 'Nowhere/Zone' is not known on this host"),
        ("next_fire_at", float("-inf"), "its next_fire_at (-inf) is not a time"),
        ("catchup", float("inf"), "its catchup (inf) is not a time"),
        ("anchor", float("inf"), "its anchor (inf) is not a time"),
        ("overlap", "bogus", "its overlap ('bogus') is neither skip nor allow"),
        ("job", "not json", "its job is not JSON"),
        ("job", "[1]", "its job is not a JSON object"),
    ],
)
def test_a_schedule_row_that_cannot_be_fired_is_reported_while_the_others_fire(
    opened, column, value, why
):
    """One such row (written past ``cron add``, or a zone this host's tzdata lacks) ended
    every worker that tried to fire it, on every host, each restart too; and ``cron
    list``, ``cron show`` and the dashboard's Schedules pane gave tracebacks."""
    add("bad", "@every 10s")
    add("good", "@every 10s")
    schedules.Schedule.update({column: value}).where(schedules.Schedule.name == "bad").execute()

    def stored() -> str:
        return repr(schedules.Schedule.select().where(schedules.Schedule.name == "bad").dicts()[:])

    before = stored()
    report = schedules.fire_due(T0 + 10)
    assert report.enqueued == [cronspec.tick_id("good", T0 + 10)]
    [broken] = [fire for fire in report.fires if fire.broken]
    assert broken.name == "bad" and broken.reason.startswith(why), broken
    assert fired("bad") == [] and stored() == before  # left as it was
    view = {view.name: view for view in schedules.list_schedules()}["bad"]
    assert view.explained.startswith(f"cannot be fired: {why}")
    json.dumps([view.record(), view.detail(), schedules.get("bad").detail()])
    assert schedules.upcoming("bad", 5, now=T0) == []


def test_a_fire_that_fails_in_a_way_no_check_foresaw_holds_up_no_other_schedule(
    opened, monkeypatch
):
    real = schedules._enqueue

    def failing(row, job_id, tick, now):  # type: ignore[no-untyped-def]
        if row.name == "bad":
            raise OverflowError("date value out of range")
        return real(row, job_id, tick, now)

    monkeypatch.setattr(schedules, "_enqueue", failing)
    add("bad", "@every 10s")
    add("good", "@every 10s")
    report = schedules.fire_due(T0 + 10)
    assert report.enqueued == [cronspec.tick_id("good", T0 + 10)]
    [broken] = [fire for fire in report.fires if fire.broken]
    assert (broken.name, broken.reason) == ("bad", "OverflowError: date value out of range")
    assert schedules.get("bad").next_fire_at == T0 + 10  # its transaction rolled back


def test_a_schedule_that_cannot_be_fired_is_logged_once_and_again_once_fixed_and_broken(
    opened, caplog
):
    from queuectl.runtime.firing import ScheduleFirer

    add("bad", "@every 10s")
    Schedule = schedules.Schedule
    Schedule.update(zone="Nowhere/Zone").where(Schedule.name == "bad").execute()
    firer = ScheduleFirer()
    with caplog.at_level("ERROR", logger="queuectl.worker"):
        for second in range(10, 13):
            assert firer.tick(T0 + second) is False  # the worker goes on
        Schedule.update(zone="UTC").where(Schedule.name == "bad").execute()
        assert firer.tick(T0 + 14) is True  # fixed: fired
        Schedule.update(zone="Nowhere/Zone", next_fire_at=T0 + 15).execute()
        firer.tick(T0 + 16)
    said = "schedule bad: cannot be fired: time zone 'Nowhere/Zone' is not known on this host"
    assert [record.getMessage() for record in caplog.records] == [
        f"{said} (is tzdata installed?)"
    ] * 2


def test_a_count_written_at_its_maximum_stops_counting_and_the_schedule_fires(opened):
    """``skipped`` at 2147483647: the next skipped tick made PostgreSQL refuse the update
    (integer out of range), which every worker retried as an outage, for ever, running no
    job; then the schedule was reported broken at every look. It stays at its limit, on
    both backends, as a worker's counts do, and the schedule fires."""
    add("full", "@every 10s")
    add("good", "@every 10s")
    Schedule = schedules.Schedule
    Schedule.update(skipped=2147483647).where(Schedule.name == "full").execute()
    report = schedules.fire_due(T0 + 35)  # two ticks missed each, the newest fired
    assert cronspec.tick_id("good", T0 + 30) in report.enqueued
    assert cronspec.tick_id("full", T0 + 30) in report.enqueued
    assert not [fire for fire in report.fires if fire.broken]
    assert schedules.get("full").skipped == 2147483647


def test_after_an_outage_the_firer_waits_for_the_ends_recorded_meanwhile(opened):
    """Fired as soon as the database answered, a tick under overlap skip was skipped for
    the last fire's job, "still active": it had ended during the outage, and its worker
    was still retrying the record (an operator's try, twice of twice). The firer waits a
    retry interval first; the outage, seen by any statement of the worker, still counts
    for the ticks due meanwhile."""
    from queuectl.runtime.firing import ScheduleFirer

    add("slow", "@every 20s")
    firer = ScheduleFirer()
    assert firer.tick(T0 + 20)  # slow:…20 fired
    [job_id] = fired("slow")
    claim = claiming.claim("w1", now=T0 + 21)
    firer.database_away()  # the worker's heartbeat found the database away at T0 + 25
    firer.database_back(T0 + 47, settle=5.0)
    assert firer.tick(T0 + 47.5) is False  # not yet: ends of the outage still coming
    end_attempt(claim, RunOutcome.SUCCEEDED, exit_code=0, now=T0 + 48)  # recorded late
    assert firer.tick(T0 + 52)
    assert fired("slow") == [job_id, cronspec.tick_id("slow", T0 + 40)]
    assert schedules.get("slow").skipped == 0
