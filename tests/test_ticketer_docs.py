"""docs/queue.md stays in step with the code: every error code the engine can answer and
every `[ticketer]` config key is documented."""

from __future__ import annotations

import re
from pathlib import Path

from ticketer.config import CounterConfig, ServiceConfig, TicketerSection

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "queue.md").read_text(encoding="utf-8")


def test_every_error_code_is_documented() -> None:
    source = (ROOT / "ticketer" / "engine.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'TicketerError\("([a-z_]+)"', source))
    assert {"unknown_service", "queue_empty", "counter_paused", "not_your_ticket", "already_rated"} <= codes
    for code in codes | {"bad_request", "bad_json"}:
        assert f"| `{code}`" in DOC, code


def test_every_config_key_is_documented() -> None:
    for model in (TicketerSection, ServiceConfig, CounterConfig):
        for key in model.model_fields:
            assert f"| `{key}` |" in DOC, (model.__name__, key)
