"""When each of a worker's duties is next due: heartbeat, recovery, reports, a refused claim,
the pause after a job the system had no resources to start.

The loop asks these timers and moves them; they hold times only (epoch
seconds from the worker's clock), so a test stepping a fake clock sees every
duty come due exactly when it should.
"""

from __future__ import annotations

REPORT_INTERVAL = 0.5
"""Longest a busy worker's row (current job, counters) lags behind its work."""

LOST_CHECK_INTERVAL = 1.0
"""Seconds between read-only looks for dead workers (see ``Worker._housekeeping``)."""

CONTROL_INTERVAL = 0.2
"""Seconds between reads of this worker's ``stop_requested`` while idle."""

FIRST_REFUSAL_DELAY = 0.1
"""Seconds before claiming again after a due job was refused; doubled at each refusal."""

SHORTAGE_FIRST_PAUSE = 0.5
"""Seconds a worker claims nothing after a job could not start for want of system
resources (and the job waits, given back); doubled while the shortage goes on."""

SHORTAGE_MAX_PAUSE = 10.0
"""The longest such pause: short beside a retry's backoff, long enough not to spin."""


class Timers:
    """The next time each periodic duty is due, and the backoff after a refused claim."""

    def __init__(self) -> None:
        self.next_heartbeat = 0.0
        self.last_beat_at = 0.0
        self.next_recover = 0.0
        self.next_lost_check = 0.0
        self.judge_after = 0.0
        """No recovery of others before this: after a pause of our own, they get a
        heartbeat round first (see ``Worker._housekeeping``)."""
        self.beats_judged_after = 0.0
        """Before this, others are judged lost only by their process (gone, on our host),
        not by their heartbeat's age: ``started``."""
        self.next_control = 0.0
        self.report_due = 0.0
        self.pause_noted_at = 0.0
        self.claim_after = 0.0
        """No claim before this: a due job was refused (see ``refused``)."""
        self._refusal_delay = 0.0
        self._shortage_pause = 0.0
        self._shortage_until = float("-inf")

    def started(self, now: float, heartbeat_interval: float, lease: float) -> None:
        """Registered: heartbeat in an interval, and recover at once (as procrastinate
        prunes stalled workers at start), but judge others by their heartbeat only
        after half a lease.

        A worker started as the database comes back (systemd's ``Restart=``, an operator,
        an autoscaler) found every sibling's heartbeat a whole outage old, declared them
        lost and threw away results they were about to record: the siblings themselves
        wait half a lease after an outage of their own (``missed_beats``), but a worker
        just started knows of none. A sibling whose process is gone, on this host, is
        still recovered at once: a restart after a crash loses no time."""
        self.next_heartbeat = now + heartbeat_interval
        self.last_beat_at = now
        self.next_recover = now
        self.beats_judged_after = now + lease / 2

    def judges_beats(self, now: float) -> bool:
        """Whether others may be judged lost by their heartbeat's age now (``started``)."""
        return now >= self.beats_judged_after

    def beat(self, now: float, heartbeat_interval: float) -> None:
        self.next_heartbeat = now + heartbeat_interval
        self.last_beat_at = now

    def reported(self, now: float, *, row_found: bool, heartbeat_interval: float) -> None:
        """The row was written after a job: the next report, and the heartbeat it was."""
        self.report_due = now + REPORT_INTERVAL
        if row_found:
            self.next_heartbeat = max(self.next_heartbeat, now + heartbeat_interval / 2)

    def unreported(self) -> None:
        """A job's end was recorded without our row (no report was due yet): write the row
        as a heartbeat a report interval after it fell due, unless a job's end carries it
        first (as in a drain, which so pays no write for it). A long job after short ones
        otherwise left the row naming a finished job, and its counts behind, until the
        next heartbeat (7.5 s by default)."""
        self.next_heartbeat = min(self.next_heartbeat, self.report_due + REPORT_INTERVAL)

    def missed_beats(self, now: float, lease: float) -> bool:
        """Whether we missed our own heartbeats for over a lease (suspend and resume,
        SIGSTOP, a clock jump, the database away). If so, beat now and give the
        others half a lease before judging them: they missed theirs too."""
        if now - self.last_beat_at <= lease:
            return False
        self.judge_after = now + lease / 2
        self.next_heartbeat = now
        return True

    def refused(self, now: float, cap: float) -> None:
        """A due job was refused by the claim: wait before claiming again, twice as long
        each time up to ``cap``, as huey's idle consumer backs off."""
        if self._refusal_delay == 0.0:
            self._refusal_delay = FIRST_REFUSAL_DELAY
        else:
            self._refusal_delay = min(cap, self._refusal_delay * 2)
        self.claim_after = now + self._refusal_delay

    def short_of_resources(self, now: float) -> float:
        """A job could not start for want of system resources: claim nothing for a pause,
        and return how long the job waits (until the pause ends).

        A shortage within a pause's length after the last pause ended goes on: the
        pause doubles, up to ``SHORTAGE_MAX_PAUSE``. Jobs that fail to start during a
        pause (a worker's slots, started together) share it. Kept apart from a refused
        claim's backoff (``claimed`` ends that one at every claim): a successful claim
        says nothing about the system's processes or memory.
        """
        if now >= self._shortage_until:
            if now < self._shortage_until + self._shortage_pause:
                self._shortage_pause = min(SHORTAGE_MAX_PAUSE, 2 * self._shortage_pause)
            else:
                self._shortage_pause = SHORTAGE_FIRST_PAUSE
            self._shortage_until = now + self._shortage_pause
        self.claim_after = max(self.claim_after, self._shortage_until)
        return self._shortage_until - now

    def claimed(self) -> None:
        """A claim succeeded, or nothing is due: the backoff is over (a shortage's pause
        is not: it ends when it ends)."""
        self._refusal_delay = 0.0
        self.claim_after = self._shortage_until

    def idle_timeout(self, now: float, next_due: float | None, longest: float) -> float:
        """How long an idle worker may sleep: until a job is due (and may be claimed), its
        next heartbeat or judgement of others, and never longer than ``longest``."""
        judge = max(min(self.next_recover, self.next_lost_check), self.judge_after)
        due = None if next_due is None else max(next_due, self.claim_after)
        timeout = longest
        for moment in (due, self.next_heartbeat, judge):
            if moment is not None:
                timeout = min(timeout, moment - now)
        return max(0.01, timeout)
