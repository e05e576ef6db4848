"""docs/technician.md's "Trying it without a machine" block, run as written (with this venv's
taxhall and free ports): the walk-through stays true."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from taxhall.broker import free_port

DOC = Path(__file__).resolve().parent.parent / "docs" / "technician.md"


def walkthrough() -> str:
    text = DOC.read_text()
    section = text[text.index("## Trying it without a machine"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.skipif(not shutil.which("systemd-analyze") or not shutil.which("cage"), reason="systemd, cage not installed")
def test_the_walkthrough_runs_as_written() -> None:
    script = (walkthrough().replace("/opt/taxhall/.venv/bin/taxhall", str(Path(sys.executable).parent / "taxhall"))
              .replace("18830", str(free_port())).replace("19100", str(free_port()))
              .replace("18470", str(free_port())))
    result = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # the hall server, its web (own account), the kiosk, the enrolled dispenser
    assert result.stdout.count("all checks passed") == 4
    assert "as hall-server-web: connected" in result.stdout  # the web's own account, not the engine's
    assert "listen = '0.0.0.0:8080'" in result.stdout  # the web's config, checked by `taxhall config`
    assert "test page printed" in result.stdout
    assert "Unknown" not in result.stderr and "not executable" not in result.stderr
