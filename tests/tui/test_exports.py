"""The palette's Screenshot: a private file where the log exports go, never a failure
for want of a downloads folder."""

from __future__ import annotations

import os
import stat

import tui.app as dashboard
from tests.tui.conftest import refreshed, wait_toast


async def test_a_screenshot_is_a_private_file_in_the_export_folder(
    app_for, tmp_path, monkeypatch
) -> None:
    """Without ~/Downloads it failed ("No such file or directory"); with it, the file was
    0644 under a umask of 022, while README says files queuectl writes are 0600."""
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.setattr(dashboard, "export_folder", lambda: str(folder))
    old_mask = os.umask(0o022)
    try:
        app = app_for()
        async with app.run_test(size=(100, 30)) as pilot:
            await refreshed(pilot)
            app.deliver_screenshot()
            await wait_toast(pilot, f"Saved {folder}/queuectl-")
    finally:
        os.umask(old_mask)
    [saved] = list(folder.iterdir())
    assert saved.suffix == ".svg" and saved.read_text().startswith("<svg")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_the_export_folder_is_the_start_folder_without_downloads(tmp_path, monkeypatch) -> None:
    from tui.exports import export_folder

    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert export_folder() == str(tmp_path)
