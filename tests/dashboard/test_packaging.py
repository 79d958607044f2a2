"""`pip install .` (not only -e) ships every file the dashboard serves: package-data covers them all."""

from __future__ import annotations

import tomllib
from pathlib import Path

import relay.web.dashboard

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(relay.web.dashboard.__file__).parent


def test_every_static_file_is_package_data() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = settings["package-data"]["relay.web.dashboard"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    served = {path for path in (PACKAGE / "static").rglob("*") if path.is_file()}
    assert served, "no static files found"
    assert served - shipped == set()
    # The WebSocket protocol page is the repo's own document, linked in, not a copy that could drift.
    assert (PACKAGE / "static" / "websocket-feed.md").read_text() == (
        ROOT / "docs" / "websocket-feed.md"
    ).read_text()
