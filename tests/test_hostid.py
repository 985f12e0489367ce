"""Whether a process is alive, when /proc cannot be read: never "dead" by default."""

from __future__ import annotations

import builtins
import errno
import os

import pytest

from queuectl import hostid


def test_a_process_whose_stat_cannot_be_read_for_want_of_descriptors_is_alive(monkeypatch):
    """Out of descriptors (EMFILE), reading /proc/PID/stat failed and the worker judged
    itself dead: it recovered its own running jobs and crashed, marked stopped."""
    real_open = builtins.open

    def no_descriptors(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_descriptors)
    assert hostid.pid_alive(os.getpid())
    with pytest.raises(OSError):
        hostid.proc_stat(os.getpid())  # not None, which callers read as gone


def test_a_gone_process_is_not_alive():
    assert hostid.proc_stat(2**22 + 12345) is None
    assert not hostid.pid_alive(2**22 + 12345)
