"""Data files the code needs (grammar, proto, JSON Schemas, the report page's script and style), found in a source
checkout and in an installed copy alike.

In the repository they live at the top level (``grammars/``, ``proto/``) and in
``cfglang/schemas/`` and ``cfglang/html/``; the wheel maps ``grammars/`` and ``proto/`` into the
package as ``cfglang/grammars`` and ``cfglang/proto`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_file"]

_PACKAGE = Path(__file__).resolve().parent


def data_file(folder: str, name: str) -> Path:
    """Path of ``folder/name`` (folder: ``grammars``, ``proto``, ``schemas`` or ``html``)."""
    for base in (_PACKAGE / folder, _PACKAGE.parent / folder):
        candidate = base / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"data file {folder}/{name} is missing from the amct-cfg installation")
