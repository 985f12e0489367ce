#!/bin/bash
# The dashboard in a real terminal (tmux) while jobs pour in: its CPU, and its memory.
#
#     bash tests/bench/churn.sh VENV LABEL [SIZE] [SECONDS] [EVERY]
#     bash tests/bench/churn.sh .venv new 160x45 60
#     bash tests/bench/churn.sh .venv soak 160x45 1500 60   # 25 minutes, a line a minute
#
# A fresh database with 600 `true` jobs, two workers draining it, `queuectl tui` in a
# tmux window of SIZE, and 50 jobs enqueued every second: every refresh then shifts
# the Jobs pane by 50 rows (a refill of its 500). Prints the tui process's share of a
# core over SECONDS (from /proc) and its resident memory at the end; with EVERY, also
# for each EVERY seconds on the way (a leak shows as memory that keeps growing). Run two
# builds' VENVs in turn (each installed with `pip install -e .` from its own checkout) to
# compare them. Needs tmux. Never collected by pytest (`norecursedirs`).
set -eu
VENV=$1; LABEL=$2; SIZE=${3:-160x45}; SECS=${4:-60}; EVERY=${5:-$SECS}
WIDTH=${SIZE%x*}; HEIGHT=${SIZE#*x}
FOLDER=$(mktemp -d); export QUEUECTL_DB=$FOLDER/q.db
Q=$VENV/bin/queuectl
SESSION=queuectl-churn-$$
cleanup() {
    [ -n "${FEED:-}" ] && kill "$FEED" 2>/dev/null || true
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    "$Q" worker stop >/dev/null 2>&1 || true
    rm -rf "$FOLDER"
}
trap cleanup EXIT
seq 600 | sed 's/.*/{"command": "true"}/' | "$Q" enqueue --file - >/dev/null
"$Q" worker start --count 2 >/dev/null
tmux new-session -d -s "$SESSION" -x "$WIDTH" -y "$HEIGHT" "QUEUECTL_DB=$QUEUECTL_DB $Q tui"
sleep 5
PID=$(pgrep -f "bin/python[0-9.]* $Q tui" | head -1)
(for i in $(seq $((SECS + 5))); do
    seq 50 | sed "s/.*/{\"command\": \"echo new $i\"}/" | "$Q" enqueue --file - >/dev/null
    sleep 1
done) &
FEED=$!
sleep 3
TICKS=$(getconf CLK_TCK)
BEFORE=$(awk '{print $14 + $15}' "/proc/$PID/stat"); START=$(date +%s.%N)
ELAPSED=0
while [ "$ELAPSED" -lt "$SECS" ]; do
    STEP=$(( SECS - ELAPSED < EVERY ? SECS - ELAPSED : EVERY ))
    B=$(awk '{print $14 + $15}' "/proc/$PID/stat"); S=$(date +%s.%N)
    sleep "$STEP"
    ELAPSED=$(( ELAPSED + STEP ))
    if [ "$ELAPSED" -lt "$SECS" ]; then
        A=$(awk '{print $14 + $15}' "/proc/$PID/stat"); E=$(date +%s.%N)
        R=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
        python3 -c "print(f'  at {$ELAPSED}s: {($A - $B) / $TICKS / ($E - $S):.1%} of a core, RSS {$R / 1024:.0f} MB', flush=True)"
    fi
done
AFTER=$(awk '{print $14 + $15}' "/proc/$PID/stat"); END=$(date +%s.%N)
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
python3 -c "print(f'$LABEL $SIZE: {($AFTER - $BEFORE) / $TICKS / ($END - $START):.1%} of a core, RSS {$RSS / 1024:.0f} MB')"
