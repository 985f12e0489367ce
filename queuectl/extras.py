"""How to add one of queuectl's optional extras, said so that pip installs this queuectl.

queuectl is installed from its source, and PyPI holds an unrelated project of the same
name: ``pip install 'queuectl[web]'`` kept this one only where it was installed already,
and in a new environment (another worker host, pipx) fetched the other project.
"""

from __future__ import annotations

from pathlib import Path


def install_hint(extra: str) -> str:
    """``pip install '/src/queuectl[web]'`` when this queuectl runs from its source folder
    (an editable install), else ``pip install '.[web]'`` to be run in that folder."""
    source = Path(__file__).resolve().parent.parent
    if (source / "pyproject.toml").is_file() and (source / "queuectl").is_dir():
        return f"pip install '{source}[{extra}]'"
    return (
        f"pip install '.[{extra}]' in queuectl's source folder (PyPI's queuectl is another project)"
    )
