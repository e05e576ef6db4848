"""docs/gateway-openapi.yaml is what the FastAPI app describes, and docs/gateway.md lists
every error code the gateway can answer with."""

from __future__ import annotations

from pathlib import Path

import yaml

from kiosk.gateway.interface import ERRORS
from kiosk.gateway.openapi import DEFAULT_PATH, openapi_document
from kiosk.gateway.rules import DEMO_RULES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_committed_openapi_file_matches_the_app() -> None:
    committed = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert committed == openapi_document(), "run: python -m kiosk.gateway.openapi"


def test_every_operation_is_documented_with_its_error_shape() -> None:
    document = openapi_document()
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert operations == {"health", "find_taxpayer", "payment_records", "issue_certificate", "verify_certificate",
                          "lookup_invoice_request", "issue_invoice_from_request", "quote_self_invoice",
                          "issue_self_invoice", "check_invoice"}
    assert "ErrorResponse" in document["components"]["schemas"]
    assert not any("id_number" in path or "{" in path for path in document["paths"])  # identity never in a URL


def test_the_guide_lists_every_error_code_and_rule_table() -> None:
    guide = (DOCS / "gateway.md").read_text(encoding="utf-8")
    assert [code for code in ERRORS if f"`{code}`" not in guide] == []
    assert [t.key for t in DEMO_RULES.tables() if f"`{t.key}`" not in guide] == []
