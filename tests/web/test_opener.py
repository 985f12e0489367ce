"""``web --open``'s private page: where it is made."""

from __future__ import annotations

import os

from queuectl.web import opener


def test_the_page_goes_to_the_runtime_folder_only_when_it_is_private_and_ours(
    tmp_path, monkeypatch
):
    """Another user's runtime folder was used as given: its owner could rename the
    page's folder and put a page of their own in its place before the browser read it."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert opener.runtime_folder() == str(runtime)
    page = opener.OpenPage("http://127.0.0.1:1/?token=t")
    try:
        assert page.folder.parent == runtime
    finally:
        page.remove()
    runtime.chmod(0o770)  # others may enter it: not a runtime folder by the spec
    assert opener.runtime_folder() is None
    runtime.chmod(0o700)
    if os.geteuid() == 0:
        os.chown(runtime, 65534, -1)  # nobody's
        assert opener.runtime_folder() is None
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert opener.runtime_folder() is None
    page = opener.OpenPage("http://127.0.0.1:1/?token=t")
    try:
        assert page.folder.parent != runtime
    finally:
        page.remove()
