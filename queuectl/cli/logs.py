"""``queuectl logs``: a job's output, inert or exactly as stored, live with ``--follow``."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import click

from queuectl.cli.common import (
    AppContext,
    BadInput,
    color_option,
    db_option,
    emit_json,
    end_if_the_file_is_gone,
    exit_interrupted,
    json_option,
    note,
    note_interrupts,
    pass_app,
    wants_color,
)

FOLLOW_INTERVAL = 0.25
"""Seconds between reads of the Run row by ``logs --follow`` (workers flush every 0.5 s)."""


class _Printer:
    """Writes output text: inert by default (its colours kept with ``color``), or
    (``--raw``) the stored text byte for byte."""

    def __init__(self, raw: bool, color: bool = False) -> None:
        self.raw = raw
        self.color = color
        self._binary = sys.stdout.buffer if raw else None

    def write(self, text: str) -> None:
        if not text:
            return
        if self._binary is not None:
            sys.stdout.flush()  # what was printed as text first stays first
            self._binary.write(text.encode("utf-8"))
            self._binary.flush()
            return
        from queuectl.textsafe import inert, keep_sgr

        if self.color:  # each piece ends reset: a colour never leaks into a marker line
            click.echo(keep_sgr(text), nl=False, color=True)
        else:
            click.echo(inert(text), nl=False)

    def end(self, text: str) -> None:
        """After the whole output: a newline if it lacked one (never added to ``--raw``)."""
        if not self.raw and text and not text.endswith("\n"):
            click.echo()


@click.command()
@click.argument("job_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job ends.")
@click.option(
    "--raw",
    is_flag=True,
    help="Write the output exactly as stored (escapes, \\r): for redirecting to a file.",
)
@color_option
@db_option
@json_option
@pass_app(read_only=True)
def logs(app: AppContext, job_id: str, follow: bool, raw: bool, color: str, as_json: bool) -> None:
    """Output of the job's latest run (stdout and stderr interleaved), live with --follow.

    Output is shown inert (control characters made visible) unless --raw;
    its colours (SGR sequences only) are kept on a terminal (--color).
    With --follow the exit status says how the job ended: 0 completed,
    1 dead or cancelled. --json prints the latest run as show --json lists
    runs (its output as stored), with the job's id and state; null fields
    when the job has not run yet.
    """
    from queuectl.cli.render import dropped_line
    from queuectl.lifecycle import reads

    if as_json and (follow or raw):
        raise BadInput("--json prints the latest run once: not with --follow or --raw")
    # Noted from before the database is opened: a Ctrl+C that lands while it is (in a
    # destructor, say) is swallowed there, and only the loop's look would still see it.
    interrupted = note_interrupts() if follow else None
    if follow:
        from queuectl.runtime.outage import Outage

        app.open(wait_out=Outage(note, "logs --follow"))
    else:
        app.open()
    job = reads.get_job(job_id)  # a clear error for an unknown id
    if as_json:
        from queuectl.records import run_record, unrun_record

        latest = reads.latest_run(job_id)
        record = run_record(latest) if latest is not None else unrun_record()
        emit_json({"job_id": job.id, "job_state": job.state, **record})
        return
    printer = _Printer(raw, wants_color(color))
    if interrupted is not None:
        try:
            sys.exit(_follow(job_id, printer, interrupted))
        except KeyboardInterrupt:
            exit_interrupted()
    run = reads.latest_run(job_id)
    if run is None:
        note(f"job {job_id} has not run yet")
        return
    dropped = dropped_line(run.output, run.output_bytes)
    if dropped:
        note(dropped)
    printer.write(run.output or "")
    printer.end(run.output or "")


def _follow(job_id: str, printer: _Printer, interrupted: Callable[[], bool]) -> int:
    """Print new output as the worker flushes it, across runs, until the job finishes.

    Says on stderr what it waits for (a delayed job, a retry's backoff) and
    returns the exit status: 0 when the job completed, 1 when it ended dead or
    cancelled (or was deleted meanwhile).
    """
    from queuectl.cli.render import dropped_line
    from queuectl.cli.serving import StrandedWatch, unserved_hint
    from queuectl.errors import JobNotFound, StoreUnavailable
    from queuectl.lifecycle import reads
    from queuectl.runtime.outage import Outage
    from queuectl.states import FINISHED_STATES, JobState, is_held
    from queuectl.textsafe import one_line, shell_word
    from queuectl.timeutil import human_duration

    run_id: int | None = None
    shown = ""
    shown_bytes: int | None = None
    ended = False
    waiting_for: tuple[object, ...] | None = None
    stranded = StrandedWatch(note)
    # A database restart or crash is weather here too: say so once, wait, go on.
    outage = Outage(note, "logs --follow")
    while True:
        if interrupted():
            raise KeyboardInterrupt  # a Ctrl+C swallowed where it landed (``note_interrupts``)
        try:
            job = reads.get_job(job_id)
            run = reads.latest_run(job_id)
        except JobNotFound:
            note(f"job {job_id} was deleted")
            return 1
        except StoreUnavailable as exc:  # the failed connection is closed: the next read reopens
            time.sleep(outage.failed(exc))
            continue
        outage.over()
        end_if_the_file_is_gone("logs --follow")
        if run is not None and run.id != run_id:
            if run_id is not None:
                _marker(f"--- run {run.run} (attempt {run.attempt}) ---")
            run_id, shown, shown_bytes, ended = run.id, "", None, False
            dropped = dropped_line(run.output, run.output_bytes)
            if dropped:
                note(dropped)
        if run is not None:
            output = run.output or ""
            grew = None
            if shown_bytes is not None and run.output_bytes is not None:
                grew = run.output_bytes - shown_bytes
            new, skipped = new_text(shown, output, grew)
            if skipped:
                _marker("[… output skipped: more than the kept tail arrived …]")
            # An escape sequence whose end has not arrived yet waits for it: printed in
            # halves, inert, "␛[3" then "1mRED" showed as text instead of red.
            held = incomplete_escape(new) if run.outcome is None else 0
            printer.write(new[: len(new) - held])
            shown, shown_bytes = output[: len(output) - held], run.output_bytes
            if run.outcome is not None and not ended:
                ended = True
                detail = f" ({one_line(run.error)})" if run.error else ""
                _marker(f"--- run {run.run} (attempt {run.attempt}) {run.outcome}{detail} ---")
        if job.state == JobState.PROCESSING:
            # Its worker killed with every other (a reboot): the output stopped, unsaid.
            try:
                stranded.look([job_id])
            except StoreUnavailable as exc:  # weather, said as the reads above say it
                time.sleep(outage.failed(exc))
                continue
        if job.state in FINISHED_STATES and (run is None or run.outcome is not None):
            if job.state == JobState.COMPLETED:
                return 0
            note(f"job {job_id} is {job.state}")
            return 1
        if job.state == JobState.BLOCKED and waiting_for != (job.state, job.run_at):
            waiting_for = (job.state, job.run_at)
            from queuectl.lifecycle import deps

            waits = deps.waiting_for([job_id]).get(job_id, [])
            after = ", ".join(map(one_line, waits)) or "its dependencies"
            verb = "completes" if len(waits) == 1 else "complete"
            note(f"waiting: job {job_id} is blocked until {after} {verb}")
        idle = job.state in (JobState.PENDING, JobState.FAILED) and (run is None or ended)
        # Held or paused, a job waits for a person, not a worker: said so, and again
        # when that changes (a release, a resume).
        held = is_held(job.state, job.held_at)
        paused = idle and not held and _paused(job.queue)
        if idle and waiting_for != (job.state, job.run_at, held, paused):
            waiting_for = (job.state, job.run_at, held, paused)
            now = time.time()
            if held:
                when = f"held: it waits until released (queuectl release {shell_word(job_id)})"
            elif paused:
                when = (
                    f"but queue {one_line(job.queue)!r} is paused"
                    f" (queuectl queue resume {shell_word(job.queue)})"
                )
            elif job.run_at > now:
                when = f"due in {human_duration(job.run_at - now)}"
            else:
                when = "due now, waiting for a worker to claim it"
            hint = "" if held or paused else unserved_hint([job.queue])
            note(f"waiting: job {job_id} is {job.state}, {when}" + (f"; {hint}" if hint else ""))
        time.sleep(FOLLOW_INTERVAL)


def _paused(queue: str) -> bool:
    """Whether ``queue`` is paused (a look at a tiny table, once per follow interval)."""
    from queuectl.lifecycle import queues

    return queue in queues.paused_names()


def _marker(text: str) -> None:
    """A line between pieces of output, on stderr, after a blank line (output may lack one)."""
    click.echo(f"\n{text}", err=True)


def new_text(before: str, after: str, grew: int | None = None) -> tuple[str, bool]:
    """What ``after`` adds to ``before`` when both are tails of the same growing output.

    Once output passes the kept limit the window slides: ``after`` starts somewhere
    inside ``before``. The new text follows the longest suffix of ``before`` that is
    a prefix of ``after`` (found in linear time with the KMP prefix function). ``grew``,
    the bytes the job printed between the two reads, settles what text cannot: when at
    least the whole of ``after`` is new, none of it was shown, however much it looks
    like what was (``yes tick`` past the kept tail read as nothing new, and 100,000
    lines went unsaid).

    Returns:
        (new text, whether some output was lost between the two reads).
    """
    if not before:
        return after, False
    if grew is not None:
        size = len(after.encode("utf-8", "surrogatepass"))
        if grew >= size:
            return after, grew > size
    if after.startswith(before):
        return after[len(before) :], False
    joined = after + "\0" + before  # NUL never appears in stored output
    prefix = [0] * len(joined)
    for i in range(1, len(joined)):
        k = prefix[i - 1]
        while k and joined[i] != joined[k]:
            k = prefix[k - 1]
        if joined[i] == joined[k]:
            k += 1
        prefix[i] = k
    overlap = prefix[-1]
    if overlap == 0:
        return after, True
    return after[overlap:], False


_CSI_BEGUN = re.compile(r"\x1b(\[[0-?]*[ -/]*)?\Z")
"""The start of a CSI sequence at the end of the text: an ESC alone, or ESC ``[`` and
parameters with no final byte yet."""


def incomplete_escape(text: str) -> int:
    """How many characters at the end of ``text`` begin a CSI sequence not yet whole.

    Only a CSI can turn out to be a colour (SGR) once whole; every other escape is
    shown inert, whole or not. Holding back an unfinished OSC too hid a job's live
    lines after a stray ``ESC ]`` until 256 characters had come.
    """
    begun = _CSI_BEGUN.search(text, max(0, len(text) - 256))
    return len(text) - begun.start() if begun else 0


COMMANDS = (logs,)
