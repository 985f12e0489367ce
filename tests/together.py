"""Calls released at the same moment, each on a thread of its own: the races of tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


def run_together(calls: Sequence[Callable[[], object]], *, timeout: float = 30) -> list[object]:
    """Run each call on its own thread (so on a database connection of its own), all
    released at once by a barrier; what each returned, or the exception it raised, in
    the calls' order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = calls[index]()
        except BaseException as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
