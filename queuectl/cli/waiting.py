"""``queuectl wait``: block until jobs reach an end, for scripts.

It sleeps as an idle worker does (``runtime.waiters``): on SQLite it wakes
when another connection commits, on PostgreSQL it listens and looks again at
least every ``LOOK_EVERY`` seconds (workers' finishes send no NOTIFY), so a
waiting script costs nearly nothing and hears of an end within milliseconds
(SQLite) or that interval (PostgreSQL).
"""

from __future__ import annotations

import time

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    db_option,
    emit_json,
    end_if_the_file_is_gone,
    error_line,
    json_option,
    note,
    note_interrupts,
    pass_app,
    queue_filter_option,
)
from queuectl.textsafe import one_line
from queuectl.wording import listed

LOOK_EVERY = 0.5
"""Longest sleep between two looks at the jobs' states."""


@click.command()
@click.argument("job_ids", nargs=-1, metavar="[ID]...")
@queue_filter_option("The unfinished jobs of this queue.")
@click.option("--all", "all_jobs", is_flag=True, help="Every unfinished job.")
@click.option("--timeout", metavar="DURATION", help="Give up after this long (exit 1).")
@db_option
@json_option
@pass_app(read_only=True)
def wait(
    app: AppContext,
    job_ids: tuple[str, ...],
    queue: str | None,
    all_jobs: bool,
    timeout: str | None,
    as_json: bool,
) -> None:
    """Wait until the jobs are completed, dead or cancelled; print each one's end.

    With --queue or --all: the jobs not yet finished when it was called (jobs
    added later are not waited for). Exit 0 when every job completed; 1 when
    one ended dead or cancelled, or at the --timeout (naming the jobs still
    waiting or running on stderr).
    """
    from queuectl.cli.serving import StrandedWatch
    from queuectl.errors import JobNotFound, StoreUnavailable
    from queuectl.lifecycle import reads
    from queuectl.runtime.outage import Outage
    from queuectl.states import FINISHED_STATES, JobState
    from queuectl.timeutil import parse_duration, set_duration

    if bool(job_ids) + bool(queue) + all_jobs != 1:
        raise BadInput("give job ids, --queue NAME or --all (one of them)")
    deadline = None
    if timeout is not None:
        limit = parse_duration(timeout, what="--timeout")
        deadline = time.monotonic() + limit
    # Noted from before the database is opened: a Ctrl+C that lands while it is (in a
    # destructor, say) was swallowed there, and the wait went on for ever (a CI run).
    interrupted = note_interrupts()
    outage = Outage(note, "wait")
    # --timeout holds while the server is away at the start too (it waited for ever).
    app.open(wait_out=outage, give_up_at=deadline)
    finished = {state.value for state in FINISHED_STATES}
    missing: list[str] = []
    asked: list[str] = []
    if job_ids:
        # As every command given ids: one Error line per id it cannot take, said at once
        # (a typo shows before a long wait), and the others waited for. One unknown id
        # waited for none, and named only the first ("… (and 1 more)").
        asked = list(dict.fromkeys(job_ids))
        states = reads.job_states(asked)
        missing = [job_id for job_id in asked if job_id not in states]
        for job_id in missing:
            error_line(str(JobNotFound(job_id)))
        waiting = [job_id for job_id in asked if job_id in states]
    else:
        states = reads.unfinished_states(queue=queue)
        waiting = list(states)
        if not waiting:  # a mistyped queue must not pass for "all completed" unremarked
            note("no unfinished jobs" + (f" in queue {queue!r}" if queue else ""))
    _say_if_unserved(waiting, states, queue)
    stranded = StrandedWatch(note)
    ended: dict[str, str] = {}
    waiter = None
    try:
        while True:
            if interrupted():
                raise KeyboardInterrupt  # a Ctrl+C swallowed where it landed
            for job_id in waiting:
                state = states.get(job_id)
                if job_id in ended:
                    continue
                if state is None:  # deleted meanwhile: it will never end
                    ended[job_id] = "deleted"
                elif state in finished:
                    ended[job_id] = state
                else:
                    continue
                if not as_json:
                    click.echo(f"{one_line(job_id)} {ended[job_id]}")
            pending = [job_id for job_id in waiting if job_id not in ended]
            if not pending:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            pause = LOOK_EVERY if deadline is None else min(LOOK_EVERY, deadline - now)
            try:
                # The waiter reads the database too (SQLite's data_version): files that
                # turned read-only failed it, and the wait ended while the job ran on.
                waiter = waiter or _waiter()
                stranded.look(j for j in pending if states.get(j) == "processing")
                waiter.wait(pause, interrupted)
                states = reads.job_states(pending)
                end_if_the_file_is_gone("wait")
            except StoreUnavailable as exc:
                # A database restart is weather here too (as for ``logs --follow``): say so
                # once, wait, look again; the jobs run on. It ended the wait with exit 1,
                # which says a job failed, while the job went on to complete.
                delay = outage.failed(exc)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                time.sleep(delay)
                continue
            outage.over()
    finally:
        if waiter is not None:
            waiter.close()
    pending = [job_id for job_id in waiting if job_id not in ended]
    if as_json:
        # Every id asked for, in order: an unknown one with a null state (it was left out,
        # and a script could tell it from the others only by parsing stderr). With its
        # last run's exit code, to branch on as pueue's users do (null: none yet, unknown,
        # or the database away as the wait ended).
        shown = asked if job_ids else waiting
        codes = _exit_codes(shown)
        emit_json(
            [
                {
                    "id": job_id,
                    "state": ended.get(job_id, states.get(job_id)),
                    "exit_code": codes.get(job_id),
                }
                for job_id in shown
            ]
        )
    failed = [job_id for job_id, state in ended.items() if state != JobState.COMPLETED.value]
    for job_id in failed:
        # "ended deleted" read as a state: a job deleted meanwhile never ended at all.
        how = "was deleted" if ended[job_id] == "deleted" else f"ended {ended[job_id]}"
        error_line(f"job {job_id} {how}")
    if pending:
        shown = listed(_why_waiting(pending[:10], states), len(pending))
        error_line(f"timed out after {set_duration(limit)}: not finished: {shown}")
    if failed or pending or missing:
        click.get_current_context().exit(1)


def _say_if_unserved(waiting: list[str], states: dict[str, str], queue: str | None) -> None:
    """``waiting: no worker serves queue 'default': start one …``, once, before waiting:
    ``wait`` on a job no worker will claim sat silent until its timeout, or for ever."""
    from queuectl.cli.serving import unserved_hint
    from queuectl.lifecycle import queues, reads
    from queuectl.states import CLAIMABLE_STATES, is_held
    from queuectl.textsafe import one_line, shell_word

    claimable = {state.value for state in CLAIMABLE_STATES}
    unstarted = [job_id for job_id in waiting if states.get(job_id) in claimable | {"blocked"}]
    if not unstarted:
        return
    read = reads.jobs_by_id(unstarted[:500])
    # Held jobs wait for a release, not a worker: "start one" was said of a held job, and
    # then nothing at all (a wait on a held job sat silent until its timeout, or for ever).
    if held := [job.id for job in read if is_held(job.state, job.held_at)]:
        _say_held(held)
    jobs = [job for job in read if job.state in claimable and not is_held(job.state, job.held_at)]
    if not jobs:
        return
    waited_on = sorted({queue} if queue else {job.queue for job in jobs})
    # A paused queue's jobs wait for a resume: a new worker would not take them either.
    paused = queues.paused_names()
    if stopped := [name for name in waited_on if name in paused]:
        noun = "queue" if len(stopped) == 1 else "queues"
        named = " and ".join(repr(one_line(name)) for name in stopped)
        words = " ".join(shell_word(name) for name in stopped)
        note(f"waiting: {noun} {named} paused: resume with queuectl queue resume {words}")
    hint = unserved_hint(name for name in waited_on if name not in paused)
    if hint:
        note(f"waiting: {hint}")


def _exit_codes(job_ids: list[str]) -> dict[str, int | None]:
    """The jobs' last exit codes, by id (none when the database is away)."""
    from queuectl.errors import StoreUnavailable
    from queuectl.lifecycle import reads

    try:
        return {job.id: job.exit_code for job in reads.jobs_by_id(job_ids)}
    except StoreUnavailable:
        return {}  # the states read last are printed; the codes are unknown


def _say_held(job_ids: list[str]) -> None:
    """``waiting: job hh is held: it waits until released (queuectl release hh)``."""
    from queuectl.textsafe import one_line, shell_word

    shown = listed([one_line(job_id) for job_id in job_ids[:10]], len(job_ids))
    words = " ".join(shell_word(job_id) for job_id in job_ids[:10])
    if len(job_ids) == 1:
        note(f"waiting: job {shown} is held: it waits until released (queuectl release {words})")
    else:
        note(f"waiting: jobs {shown} are held: they wait until released (queuectl release {words})")


def _why_waiting(job_ids: list[str], states: dict[str, str]) -> list[str]:
    """``hh (pending, held)``, ``ab (pending, due in 9m50s)``, ``bc (blocked, after ab)``,
    ``cd (processing)``: what a timed-out wait still waits for, and why it has not
    started, where that is not just a busy queue (it said "hh (pending)" of a job held
    for good)."""
    from queuectl.cli.render import waits_text
    from queuectl.errors import QueueError
    from queuectl.lifecycle import deps, queues, reads
    from queuectl.textsafe import one_line
    from queuectl.timeutil import human_duration

    try:
        jobs = {job.id: job for job in reads.jobs_by_id(job_ids)}
        paused = queues.paused_names()
        blocked = [job_id for job_id, job in jobs.items() if job.state == "blocked"]
        waits = deps.waiting_for(blocked) if blocked else {}
    except QueueError:  # the database away as it times out: the states read last say enough
        jobs, paused, waits = {}, set(), {}
    now = time.time()
    shown = []
    for job_id in job_ids:
        job = jobs.get(job_id)
        state = job.state if job is not None else states.get(job_id)
        why = ""
        if job is not None and state == "blocked":
            # "wc4 (blocked)" said less than list's "after b2": what it waits for.
            held = "held, " if job.held_at is not None else ""
            why = f", {held}{waits_text(waits.get(job_id, ()))}"
        elif job is not None and job.held_at is not None:
            why = ", held"
        elif job is not None and state in ("pending", "failed") and job.queue in paused:
            why = f", queue {one_line(job.queue)!r} paused"
        elif job is not None and state in ("pending", "failed") and job.run_at > now:
            why = f", due in {human_duration(job.run_at - now)}"
        shown.append(f"{job_id} ({state}{why})")
    return shown


def _waiter():  # type: ignore[no-untyped-def]
    """An idle worker's waiter, bound to the open database; its outages are said by
    ``wait`` itself, once."""
    from queuectl.runtime.waiters import make_waiter

    return make_waiter(tell_losses=False)


COMMANDS = (wait,)
