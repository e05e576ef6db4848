"""docs/mqtt.md is the contract: its schemas match the code and its examples validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taxhall.bus.schemas import TOPICS, Reply, spec_for

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = re.compile(r"```json (\S+)\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall((DOCS / "mqtt.md").read_text(encoding="utf-8"))


def test_every_topic_of_the_registry_is_documented() -> None:
    text = (DOCS / "mqtt.md").read_text(encoding="utf-8")
    for spec in TOPICS:
        name = spec.pattern.replace("device/+/cmd/+", "device/{device}/cmd/{name}").replace("device/+", "device/{device}")
        assert name.rsplit("/", 1)[-1] in text, spec.pattern
        assert f"schemas/{spec.model.__name__}.json" in text


def test_published_json_schemas_match_the_models() -> None:
    for spec in TOPICS:
        published = json.loads((DOCS / "schemas" / f"{spec.model.__name__}.json").read_text(encoding="utf-8"))
        assert published == spec.model.model_json_schema(), f"run: python -m taxhall.bus.schemas docs/schemas ({spec.model.__name__})"


@pytest.mark.parametrize("topic,body", examples(), ids=[t for t, _ in examples()])
def test_every_example_validates_against_its_topic(topic: str, body: str) -> None:
    model = Reply if topic == "reply" else spec_for(topic).model  # type: ignore[union-attr]
    model.model_validate(json.loads(body))


def test_examples_cover_every_kind_of_topic() -> None:
    covered = {spec_for(t).pattern for t, _ in examples() if t != "reply"}  # type: ignore[union-attr]
    required = {"device/+/status", "device/+/telemetry", "device/+/event", "device/+/cmd/+", "queue/req/take_ticket",
                "queue/req/transfer", "queue/req/rate", "queue/calls", "queue/state"}
    assert required <= covered
