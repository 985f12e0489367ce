"""The scripting contract of issue 16: order, precision, completeness, run numbers, output.

Each test drives the CLI through CliRunner on both backends (``run``), playing
the worker in-process where a run is needed (``finish_next``).
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime

import pytest
from rich.cells import cell_len
from rich.console import Console

from queuectl.cli import render
from queuectl.lifecycle import claim as claiming
from queuectl.lifecycle import finish, recovery
from queuectl.records import RUN_RECORD_KEYS
from queuectl.store import db
from queuectl.store.models import Job, Run, RunOutcome, Worker, WorkerState
from tests.conftest import end_attempt
from tests.test_cli import enqueue, finish_next

MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _claim_all(location: str) -> list[str]:
    """Play one worker: claim jobs until none is due; returns the commands in claim order."""
    db.open_database(location)
    order = []
    while (claim := claiming.claim("w1", host="test")) is not None:
        end_attempt(claim, RunOutcome.SUCCEEDED, worker_id="w1")
        order.append(claim.job.command)
    db.close_database()
    return order


# --- order ------------------------------------------------------------------------------


def test_lines_of_one_file_run_in_file_order_and_list_newest_first(run, db_url, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"command": f"echo {n}"}) + "\n" for n in range(1, 13)))
    ids = run("enqueue", "--file", str(jobs)).stdout.split()
    listed = [job["id"] for job in json.loads(run("list", "--json").stdout)]
    assert listed == ids[::-1]  # newest first: the last line first, whatever the random ids
    assert _claim_all(db_url) == [f"echo {n}" for n in range(1, 13)]


def test_priority_then_due_time_then_enqueue_order(run, db_url):
    enqueue(run, command="first")
    enqueue(run, command="urgent", priority=5)
    enqueue(run, command="second")
    enqueue(run, command="later", run_at="2026-01-01T00:00:00Z")  # due long ago: earliest
    assert _claim_all(db_url) == ["urgent", "later", "first", "second"]


# --- precision --------------------------------------------------------------------------


def _times(record: dict, fields: tuple[str, ...]) -> list[str]:
    return [record[field] for field in fields if record.get(field) is not None]


def test_every_json_time_has_milliseconds(run, db_url):
    job_fields = ("run_at", "created_at", "updated_at", "started_at", "finished_at")
    seen: list[str] = []
    record = json.loads(run("enqueue", '{"command": "true"}', "--json").stdout)
    seen += _times(record, job_fields)
    finish_next(db_url, output="hi\n")
    shown = json.loads(run("show", record["id"], "--json").stdout)
    seen += _times(shown, job_fields)
    for run_record in shown["runs"]:
        seen += _times(run_record, ("started_at", "finished_at"))
    for job in json.loads(run("list", "--json").stdout):
        seen += _times(job, job_fields)
    retried = json.loads(run("retry", record["id"], "--json").stdout)
    seen += _times(retried[0], job_fields)
    assert len(seen) >= 12
    assert all(MILLISECONDS.match(text) for text in seen), seen
    # The stored fraction survives: a script can order runs and measure latency.
    db.open_database(db_url)
    stored = Job.get_by_id(record["id"]).created_at
    db.close_database()
    # Within the millisecond the text keeps: the float's last digit is not compared (a
    # stored ...44.6599996 is 44.660000 to the microsecond, shown .660; not .659).
    shown_at = datetime.fromisoformat(shown["created_at"].replace("Z", "+00:00")).timestamp()
    assert -1e-6 < stored - shown_at < 0.001


def test_worker_times_have_milliseconds_in_status_and_worker_list(run, db_url):
    db.open_database(db_url)
    Worker.create(id="w-ms", pid=1, host="elsewhere", started_at=1795000000.25, heartbeat_at=4e9)
    db.close_database()
    status = json.loads(run("status", "--json").stdout)
    listed = json.loads(run("worker", "list", "--json").stdout)
    for worker in (status["workers"][0], listed[0]):
        assert worker["started_at"] == "2026-11-18T11:06:40.250Z"
        assert MILLISECONDS.match(worker["heartbeat_at"])


# --- completeness -----------------------------------------------------------------------


def test_list_json_returns_every_match_and_no_output(run, db_url, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"command": "echo x"}\n' * 53)
    run("enqueue", "--file", str(jobs))
    _record_run(db_url, "kept\n", len(b"kept\n"))
    listed = json.loads(run("list", "--json").stdout)
    assert len(listed) == 53
    assert all("output" not in job for job in listed)
    assert [job["output_bytes"] for job in listed if job["output_bytes"]] == [len("kept\n")]
    assert len(json.loads(run("list", "--json", "--limit", "5").stdout)) == 5


def test_the_table_keeps_its_cap_and_says_how_to_see_the_rest(run, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"command": "echo x"}\n' * 53)
    run("enqueue", "--file", str(jobs))
    result = run("list")
    assert len(result.stdout.splitlines()) == 1 + 50
    assert result.stderr.strip() == "… 3 more jobs match: --limit 53 or --all shows them"
    everything = run("list", "--all")
    assert len(everything.stdout.splitlines()) == 1 + 53 and everything.stderr == ""
    assert run("list", "--limit", "53").stderr == ""


def test_search_matches_id_or_command_literally(run):
    enqueue(run, id="report-7", command="make report")
    enqueue(run, command="convert 100%_done.png out.webp")
    enqueue(run, command="true")

    def found(text: str) -> set[str]:
        return {job["command"] for job in json.loads(run("list", "-S", text, "--json").stdout)}

    assert found("REPORT") == {"make report"}  # the id or the command, any ASCII case
    assert found("%_") == {"convert 100%_done.png out.webp"}  # wildcards taken literally
    assert found("nothing") == set()


def test_piped_tables_are_never_cut(run):
    long_command = "echo " + "word " * 60
    enqueue(run, command=long_command.strip())
    enqueue(run, command="true", delay="3000d")
    out = run("list").stdout
    assert long_command.strip() in out  # CliRunner's stdout is no terminal: no 80 columns
    assert "due in 8y" in out and "…" not in out


def test_piped_tables_keep_text_whose_characters_outnumber_its_columns(run):
    """Combining marks take no column: a cut by characters dropped words of Hindi, Thai and
    decomposed accents, whose column was measured in cells."""
    commands = ["echo नमस्ते दुनिया", "echo สวัสดีครับ", "echo cafe\u0301"]
    for command in commands:
        enqueue(run, command=command)
    out = run("list").stdout
    assert all(command in out for command in commands) and "…" not in out


def test_on_a_terminal_only_the_command_is_cut_and_each_line_fits(run, db_url):
    enqueue(run, id="hindi", command="echo " + "नमस्ते दुनिया " * 12)
    enqueue(run, id="plain", command="echo " + "word " * 40)
    db.open_database(db_url)
    out = Console(width=80, file=io.StringIO(), color_system=None)
    out.print(render.jobs_table(Job.select().order_by(Job.id), width=80))
    db.close_database()
    header, hindi, plain = out.file.getvalue().splitlines()
    assert all(cell_len(line) <= 80 for line in (header, hindi, plain))
    assert hindi.startswith("hindi ") and "echo नमस्ते" in hindi and "…" in hindi
    assert plain.startswith("plain ") and "echo word word" in plain and "…" in plain


@pytest.mark.parametrize("width", [160, 80, 60])
def test_a_long_id_is_whole_while_it_fits_and_cut_in_the_middle_after(run, db_url, width):
    """Ids were cut at 20 characters at any width (``report:20261206T160…`` beside a
    4-cell COMMAND at 160 columns); a schedule's fires differ at the end."""
    fire = "report:20261206T160000Z.runp9"
    enqueue(run, id=fire, command="true")
    enqueue(run, id="plain", command="echo " + "word " * 40)
    db.open_database(db_url)
    out = Console(width=width, file=io.StringIO(), color_system=None)
    out.print(render.jobs_table(Job.select().order_by(Job.id), width=width))
    db.close_database()
    lines = out.file.getvalue().splitlines()
    assert all(cell_len(line) <= width for line in lines), lines
    [shown] = [line.split()[0] for line in lines[1:] if not line.startswith("plain")]
    if width >= 80:
        assert shown == fire  # COMMAND gave way, not the id
    else:
        assert shown.startswith("report:") and shown.endswith("runp9") and "…" in shown


@pytest.mark.parametrize("dlq", [False, True])
def test_on_a_very_narrow_terminal_columns_go_before_the_ids_are_unreadable(run, db_url, dlq):
    """Below the columns' narrowest widths Rich cut every column alike: at 30 columns each
    id read "…", so no line named its job. PRI, TRIES, WHEN and QUEUE go instead (the
    DLQ keeps its LAST ERROR longest), and ID, STATE and COMMAND stay."""
    enqueue(run, id="k3qffrsg", command="echo " + "word " * 20)
    db.open_database(db_url)
    Job.update(state="dead", last_error="exit 3").execute()
    out = Console(width=120, file=io.StringIO(), color_system=None)
    widths = {}
    for width in (30, 44, 52, 60):
        out.file = io.StringIO()
        out.print(render.jobs_table(Job.select(), width=width, dlq=dlq))
        header, row = out.file.getvalue().splitlines()
        assert cell_len(header) <= width and cell_len(row) <= width, (width, header, row)
        assert row.split()[:2] == ["k3qffrsg", "dead"]
        widths[width] = header.split()
    db.close_database()
    # Left out in this order, each only where the line would not fit without it.
    order = ["PRI", "TRIES", "QUEUE", "LAST"] if dlq else ["PRI", "TRIES", "WHEN", "QUEUE"]
    for width, header in widths.items():
        gone = [name for name in order if name not in header]
        assert gone == order[: len(gone)], (width, header)
    assert len([name for name in order if name not in widths[30]]) >= 3
    assert widths[60][:4] == ["ID", "STATE", "PRI", "TRIES"]


# --- run numbers ------------------------------------------------------------------------


def test_run_numbers_never_repeat_across_retries_and_dlq_retry(run, db_url):
    job_id = enqueue(run, max_retries=1)
    finish_next(db_url, RunOutcome.FAILED)
    db.open_database(db_url)
    Job.update(run_at=0).where(Job.id == job_id).execute()  # its backoff is over
    db.close_database()
    finish_next(db_url, RunOutcome.FAILED)
    assert json.loads(run("show", job_id, "--json").stdout)["state"] == "dead"
    run("dlq", "retry", job_id)
    finish_next(db_url)
    runs = json.loads(run("show", job_id, "--json").stdout)["runs"]
    assert [(r["run"], r["attempt"]) for r in runs] == [(1, 1), (2, 2), (3, 1)]
    assert "RUN  TRY" in run("show", job_id).stdout


def test_an_interrupted_attempt_keeps_its_run_number(run, db_url):
    job_id = enqueue(run)
    db.open_database(db_url)
    claim = claiming.claim("w1", host="test")
    end_attempt(claim, RunOutcome.INTERRUPTED, worker_id="w1")
    claiming.claim("w1", host="test")
    db.close_database()
    runs = json.loads(run("show", job_id, "--json").stdout)["runs"]
    assert [(r["run"], r["attempt"], r["outcome"]) for r in runs] == [
        (1, 1, "interrupted"),
        (2, 1, None),  # running: the attempt was given back, the run number was not
    ]


# --- output -----------------------------------------------------------------------------


def _record_run(location: str, output: str, output_bytes: int) -> str:
    db.open_database(location)
    claim = claiming.claim("w1", host="test")
    assert claim is not None
    end_attempt(
        claim, RunOutcome.SUCCEEDED, output=output, output_bytes=output_bytes, worker_id="w1"
    )
    db.close_database()
    return claim.job.id


def test_a_running_attempts_output_is_the_jobs_latest_in_show_and_list_json(run, db_url):
    """``show --json`` gave attempt 1's output all through attempt 2, and null through
    attempt 1, where ``show`` and ``logs`` print the running attempt's (README: the output
    and ``output_bytes`` are the latest run's)."""
    job_id = enqueue(run, max_retries=3)
    db.open_database(db_url)
    first = claiming.claim("w1", host="test")
    end_attempt(first, RunOutcome.FAILED, exit_code=1, output="attempt1\n", worker_id="w1")
    Job.update(run_at=0).where(Job.id == job_id).execute()  # due again now, not after backoff
    second = claiming.claim("w1", host="test")
    assert second.job.id == job_id
    db.close_database()
    shown = json.loads(run("show", job_id, "--json").stdout)
    assert (shown["state"], shown["output"], shown["output_bytes"]) == ("processing", "", None)
    db.open_database(db_url)
    finish.record_progress(second.run_id, "attempt2\n", output_bytes=9000)
    db.close_database()
    shown = json.loads(run("show", job_id, "--json").stdout)
    assert (shown["output"], shown["output_bytes"], shown["output_truncated"]) == (
        "attempt2\n",
        9000,
        True,
    )
    assert [r["output"] for r in shown["runs"]] == ["attempt1\n", "attempt2\n"]
    assert run("logs", job_id).stdout == "attempt2\n"
    [listed] = json.loads(run("list", "--json").stdout)
    assert listed["output_bytes"] == 9000
    db.open_database(db_url)
    end_attempt(second, RunOutcome.SUCCEEDED, output="done\n", output_bytes=5, worker_id="w1")
    db.close_database()
    shown = json.loads(run("show", job_id, "--json").stdout)
    assert (shown["state"], shown["output"], shown["output_bytes"]) == ("completed", "done\n", 5)


def test_logs_raw_is_byte_exact_and_the_default_is_inert(run, db_url):
    enqueue(run)
    stored = "50%\r100%\r\ndone \x1b[31mred\x1b[0m\n"
    job_id = _record_run(db_url, stored, len(stored.encode()))
    raw = run("logs", job_id, "--raw")
    assert raw.stdout_bytes == stored.encode()
    shown = run("logs", job_id).stdout
    assert "\x1b" not in shown and "\r" not in shown and "␛[31mred" in shown


def test_logs_json_is_the_latest_run_as_stored_and_null_before_any(run, db_url):
    """README: every command that prints data takes --json; logs did not."""
    waiting = enqueue(run)
    before = json.loads(run("logs", waiting, "--json").stdout)
    assert before == {"job_id": waiting, "job_state": "pending", **dict.fromkeys(RUN_RECORD_KEYS)}
    stored = "50%\r100%\r\ndone \x1b[31mred\x1b[0m\n"
    job_id = _record_run(db_url, stored, len(stored.encode()))
    record = json.loads(run("logs", job_id, "--json").stdout)
    shown = json.loads(run("show", job_id, "--json").stdout)
    assert record == {"job_id": job_id, "job_state": shown["state"], **shown["runs"][-1]}
    assert record["output"] == stored and tuple(shown["runs"][-1]) == RUN_RECORD_KEYS
    for other in ("--follow", "--raw"):
        refused = run("logs", job_id, "--json", other, ok=False)
        assert refused.exit_code == 2 and refused.stdout == ""


def test_dropped_output_is_announced_and_counted(run, db_url):
    enqueue(run)
    tail = "the-end\n"
    job_id = _record_run(db_url, tail, 14_900_000 + len(tail))
    assert "… 14.9 MB earlier output not kept" in run("show", job_id).stdout
    logs = run("logs", job_id)
    assert logs.stdout == tail and "… 14.9 MB earlier output not kept" in logs.stderr
    record = json.loads(run("show", job_id, "--json").stdout)
    assert (record["output_bytes"], record["output_truncated"]) == (14_900_008, True)
    assert (record["runs"][0]["output_bytes"], record["runs"][0]["output_truncated"]) == (
        14_900_008,
        True,
    )
    whole = _record_whole(run, db_url)
    assert json.loads(run("show", whole, "--json").stdout)["output_truncated"] is False


def _record_whole(run, location: str) -> str:
    enqueue(run)
    return _record_run(location, "all of it\n", len(b"all of it\n"))


def test_logs_follow_exit_status_says_how_the_job_ended(run, db_url):
    done = enqueue(run)
    finish_next(db_url)
    dead = enqueue(run, max_retries=0)
    finish_next(db_url, RunOutcome.FAILED)
    cancelled = enqueue(run)
    run("cancel", cancelled)
    assert run("logs", "--follow", done).exit_code == 0
    result = run("logs", "--follow", dead, ok=False)
    assert result.exit_code == 1 and f"job {dead} is dead" in result.stderr
    result = run("logs", "--follow", cancelled, ok=False)
    assert result.exit_code == 1 and "cancelled" in result.stderr


def test_a_run_left_open_by_a_lost_worker_is_closed_with_its_output_size(run, db_url):
    job_id = enqueue(run, max_retries=0)
    db.open_database(db_url)
    Worker.create(id="w1", pid=1, host="gone", started_at=0, heartbeat_at=0)
    claim = claiming.claim("w1", host="gone")
    finish.record_progress(claim.run_id, "partial\n", output_bytes=9000)
    recovery.recover_lost(lease_seconds=30)
    assert Worker.get_by_id("w1").state == WorkerState.LOST
    assert Run.get_by_id(claim.run_id).output_bytes == 9000
    db.close_database()
    assert json.loads(run("show", job_id, "--json").stdout)["runs"][0]["output_truncated"]


def test_piped_tables_have_no_trailing_blanks(run):
    """``show X | sed 's/^cwd *//'`` kept the blanks that pad each row to the last
    column's width; README's examples have none."""
    job_id = run("add", "--", "echo", "a-rather-long-command-to-pad-the-others").stdout.strip()
    run("add", "--", "true")
    for args in (("list",), ("show", job_id), ("status",), ("config",), ("queue", "list")):
        out = run(*args).stdout
        assert out.strip(), args
        assert not [line for line in out.splitlines() if line != line.rstrip()], (args, out)


def test_piped_list_puts_command_last_so_one_long_command_pads_no_other_line(run):
    """Before WHEN, a 131 KB command padded every row to its width: ``list --all | grep``
    printed 51 MB."""
    long_id = run("add", "--", "echo", "x" * 100_000).stdout.strip()
    short_id = run("add", "--", "echo", "small").stdout.strip()
    lines = run("list").stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "PRI", "TRIES", "QUEUE", "WHEN", "COMMAND"]
    [short] = [line for line in lines if line.startswith(short_id)]
    assert short.endswith(" now  echo small") and len(short) < 60
    [long] = [line for line in lines if line.startswith(long_id)]
    assert long.endswith("echo " + "x" * 100_000)  # nothing cut


def test_a_filtered_dlq_list_that_finds_nothing_does_not_call_the_dlq_empty(run):
    job_id = run("add", "--queue", "images", "--max-retries", "0", "--", "false").stdout.strip()
    Job.update(state="dead").where(Job.id == job_id).execute()
    for args in (("--queue", "default"), ("--search", "nomatch")):
        assert run("dlq", "list", *args).stderr == "No dead jobs match.\n", args
    assert job_id in run("dlq", "list").stdout


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (("list",), "No jobs.\n"),
        (("dlq", "list"), "The DLQ is empty.\n"),
        (("cron", "list"), "no schedules yet: add one with queuectl cron add NAME SPEC JOB-JSON\n"),
        (
            ("worker", "list"),
            "no workers running (--all shows ended ones); start some with: queuectl worker start\n",
        ),
        (("worker", "list", "--all"), "no workers; start some with: queuectl worker start\n"),
    ],
)
def test_an_empty_table_prints_no_row_on_stdout(run, args, note):
    """``list`` and ``dlq list`` said "nothing" on stderr, ``cron list`` and ``worker
    list`` on stdout, where ``queuectl cron list | wc -l`` then counted it as a row."""
    run("config", "reset")  # a database, so no "no database yet" warning
    result = run(*args)
    assert (result.stdout, result.stderr) == ("", note)


def test_show_gives_each_variable_a_line_and_quotes_values_that_need_it(run):
    """``A=1 B=2`` on one line read the same for ``{"A": "1 B=2"}`` as for two variables."""
    one = enqueue(run, env={"A": "1 B=2"})
    two = enqueue(run, env={"A": "1", "B": "2"})
    assert "A='1 B=2'\n" in run("show", one).stdout
    shown = run("show", two).stdout
    assert "A=1\n" in shown and re.search(r"^\s+B=2$", shown, re.M), shown


def test_show_says_a_sub_millisecond_timeout_is_one_and_not_none(run):
    assert re.search(r"^timeout\s+0.0004s$", run("show", enqueue(run, timeout=0.0004)).stdout, re.M)
    assert re.search(r"^timeout\s+none$", run("show", enqueue(run, timeout=0)).stdout, re.M)
