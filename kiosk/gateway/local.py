"""The local tax gateway: `TaxGateway` on one SQLite file, with demo data on first start.

It stands in for the tax back end: the kiosk embeds it by default, and `taxhall gateway`
serves it over HTTP so every kiosk of a hall shares one.

What it keeps, and why:
- the taxpayer registry holds a keyed hash of each ID number (HMAC-SHA256 with a random key
  made when the database is created) and the masked number and name — enough to find a
  taxpayer from the card the kiosk reads and to print `张*` on a certificate. No full name or
  ID number is written anywhere, including this file and the log. Hashes of ID numbers can be
  brute-forced by whoever holds file and key: this is pseudonymisation for a demo, and a real
  back end keeps its registry under its own controls;
- every issued certificate and invoice as the JSON document that was answered, so a repeated
  request id answers the same document (idempotency rows are written in the same transaction
  as what they issued);
- quotes for self-invoicing, orders waiting for invoices, payment records;
- the id of each pre-filled code (taxhall.prefill) a self-issued invoice came from, written
  in the invoice's own transaction, so a code gets one invoice: a second quote for it is
  refused before anything is paid, and the primary key stops a second issue even when two
  kiosks quoted the same code at once.

Each operation opens its own connection (the HTTP server calls from a thread pool); writes
run in `BEGIN IMMEDIATE` transactions, in WAL mode with synchronous=FULL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from taxhall import __version__
from taxhall.privacy import mask_id_number, mask_name

from kiosk.gateway import demo_data
from kiosk.gateway.ids import id_number_problem, normalize_id_number
from kiosk.gateway.interface import error
from kiosk.gateway.invoice_qr import format_invoice_qr
from kiosk.gateway.models import (
    Certificate,
    CertificateCheck,
    GatewayHealth,
    Invoice,
    InvoiceCheckResult,
    InvoiceHeader,
    InvoiceKind,
    InvoiceLine,
    InvoiceQrFields,
    InvoiceRequest,
    InvoiceRequestRef,
    InvoiceSummary,
    LocationClass,
    Party,
    PaymentProof,
    PaymentRecord,
    SelfInvoiceCategory,
    SelfInvoiceQuote,
    TaxLine,
    TaxType,
    Taxpayer,
    prefill_id_problem,
    request_id_problem,
)
from kiosk.gateway.money import fen_to_yuan
from kiosk.gateway.rules import (
    DEMO_RULES,
    RuleBook,
    RuleGap,
    SelfInvoiceComputation,
    compute_self_invoice,
    line_from_inclusive,
)

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8), "CST")  # China keeps +08:00 all year
SCHEMA_VERSION = "1"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper by people

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS taxpayers (
    ref TEXT PRIMARY KEY, id_hash TEXT NOT NULL UNIQUE, masked_id TEXT NOT NULL, masked_name TEXT NOT NULL,
    kind TEXT NOT NULL, authority TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payment_records (
    id TEXT PRIMARY KEY, taxpayer_ref TEXT NOT NULL REFERENCES taxpayers(ref), tax_type TEXT NOT NULL,
    period_start TEXT NOT NULL, period_end TEXT NOT NULL, amount_fen INTEGER NOT NULL, paid_on TEXT NOT NULL,
    ticket_number TEXT NOT NULL, authority TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS payment_records_by_payer ON payment_records (taxpayer_ref, paid_on);
CREATE TABLE IF NOT EXISTS businesses (taxpayer_id TEXT PRIMARY KEY, header_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    seller_id TEXT NOT NULL, order_ref TEXT NOT NULL, created_on TEXT NOT NULL, lines_json TEXT NOT NULL,
    total_fen INTEGER NOT NULL, invoice_number TEXT, PRIMARY KEY (seller_id, order_ref));
CREATE TABLE IF NOT EXISTS invoices (
    number TEXT PRIMARY KEY, code TEXT, kind TEXT NOT NULL, issued_on TEXT NOT NULL, seller_ref TEXT,
    sales_fen INTEGER NOT NULL DEFAULT 0, document_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS invoices_by_seller ON invoices (seller_ref, issued_on);
CREATE TABLE IF NOT EXISTS certificates (
    number TEXT PRIMARY KEY, verification_code TEXT NOT NULL, taxpayer_ref TEXT NOT NULL, document_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quotes (
    id TEXT PRIMARY KEY, taxpayer_ref TEXT NOT NULL, expires_at TEXT NOT NULL, document_json TEXT NOT NULL,
    invoice_number TEXT);
CREATE TABLE IF NOT EXISTS prefill_uses (
    prefill_id TEXT PRIMARY KEY, invoice_number TEXT NOT NULL REFERENCES invoices(number), used_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, operation TEXT NOT NULL, fingerprint TEXT NOT NULL,
    result_table TEXT NOT NULL, result_key TEXT NOT NULL, created_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class GatewaySettings:
    """What a hall's gateway is configured with (see config.GatewaySection)."""

    location: LocationClass = LocationClass.URBAN
    region_code: str = "11"
    authority: str = demo_data.HAIDIAN
    verify_base_url: str = "https://verify.taxhall.invalid/c"
    quote_ttl_s: int = 900
    max_self_invoice_fen: int = 50_000_000
    max_period_days: int = 3 * 366
    demo_data: bool = True


def china_now() -> datetime:
    return datetime.now(CHINA_TZ)


class LocalTaxGateway:
    """`TaxGateway` on a SQLite file; creates and seeds it on first use."""

    def __init__(self, db_path: Path | str, settings: GatewaySettings = GatewaySettings(), rules: RuleBook = DEMO_RULES,
                 clock: Callable[[], datetime] = china_now) -> None:
        self.db_path = Path(db_path)
        self.settings = settings
        self.rules = rules
        self._clock = clock
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            with self._write(conn):
                key = self._meta(conn, "id_hash_key")
                if key is None:
                    key = secrets.token_hex(32)
                    conn.execute("INSERT INTO meta VALUES ('id_hash_key', ?), ('schema_version', ?)", (key, SCHEMA_VERSION))
                if settings.demo_data and self._meta(conn, "seeded_at") is None:
                    self._seed(conn, bytes.fromhex(key))
        self._hash_key = bytes.fromhex(key)

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One transaction that takes the write lock at once, so check-then-insert is atomic."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _next(conn: sqlite3.Connection, counter: str) -> int:
        conn.execute("INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1", (counter,))
        return int(conn.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()[0])

    def _id_hash(self, id_number: str, key: bytes | None = None) -> str:
        return hmac.new(key or self._hash_key, normalize_id_number(id_number).encode(), hashlib.sha256).hexdigest()

    def _fingerprint(self, operation: str, payload: dict[str, Any]) -> str:
        text = json.dumps({"op": operation, **payload}, sort_keys=True, ensure_ascii=False, default=str)
        return hmac.new(self._hash_key, text.encode(), hashlib.sha256).hexdigest()

    def _replay(self, conn: sqlite3.Connection, request_id: str, operation: str, fingerprint: str) -> str | None:
        """The stored answer of an earlier request with this id, if any."""
        problem = request_id_problem(request_id)
        if problem:
            raise error("invalid_request", reason=f"request_id: {problem}")
        row = conn.execute("SELECT operation, fingerprint, result_table, result_key FROM requests WHERE request_id = ?",
                           (request_id,)).fetchone()
        if row is None:
            return None
        if (row[0], row[1]) != (operation, fingerprint):
            raise error("request_id_reused")
        table = {"certificates": "certificates", "invoices": "invoices"}[row[2]]  # never interpolate stored text as is
        return str(conn.execute(f"SELECT document_json FROM {table} WHERE number = ?", (row[3],)).fetchone()[0])

    def _remember(self, conn: sqlite3.Connection, request_id: str, operation: str, fingerprint: str,
                  table: str, key: str) -> None:
        conn.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?)",
                     (request_id, operation, fingerprint, table, key, self._clock().isoformat()))

    def _today(self) -> date:
        return self._clock().date()

    # --- seeding -------------------------------------------------------------------------

    def _seed(self, conn: sqlite3.Connection, key: bytes) -> None:
        today = self._today()
        for person in demo_data.TAXPAYERS:
            conn.execute("INSERT INTO taxpayers VALUES (?, ?, ?, ?, ?, ?)",
                         (person.ref, self._id_hash(person.id_number, key), mask_id_number(person.id_number),
                          mask_name(person.name), person.kind, person.authority))
            for payment in demo_data.payment_history(person, today):
                self._insert_payment(conn, person.ref, payment.tax_type, payment.period_start, payment.period_end,
                                     payment.amount_fen, payment.paid_on, person.authority)
        for business in demo_data.BUSINESSES:
            conn.execute("INSERT INTO businesses VALUES (?, ?)", (business.header.taxpayer_id, business.header.model_dump_json()))
        for order in demo_data.ORDERS:
            lines = [line_from_inclusive(name, fen, rate).model_dump(mode="json") for name, fen, rate in order.lines]
            conn.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, NULL)",
                         (order.seller, order.order_ref, order.created_on.isoformat(), json.dumps(lines, ensure_ascii=False),
                          order.total_fen))
        for seeded in demo_data.ISSUED_INVOICES:
            seller = self._business(conn, seeded.seller)
            buyer = self._business(conn, seeded.buyer)
            line = line_from_inclusive(seeded.line_name, seeded.total_fen, seeded.rate)
            issued_at = datetime.combine(seeded.issued_on, datetime.min.time(), CHINA_TZ).replace(hour=10)
            invoice = Invoice(kind=seeded.kind, number=seeded.number, code=seeded.code, issued_on=seeded.issued_on,
                              issued_at=issued_at, seller=Party(name=seller.name, taxpayer_id=seeded.seller), buyer=buyer,
                              lines=(line,), amount_fen=line.amount_fen, tax_fen=line.tax_fen, total_fen=line.total_fen,
                              check_code=seeded.check_code,
                              qr_payload=format_invoice_qr(seeded.kind, seeded.code, seeded.number, line.amount_fen,
                                                           seeded.issued_on, seeded.check_code),
                              issuer="demo")
            self._insert_invoice(conn, invoice, seller_ref=None, sales_fen=0)
        conn.execute("INSERT INTO meta VALUES ('seeded_at', ?)", (self._clock().isoformat(),))
        log.info("gateway database %s created with demo data (%d taxpayers)", self.db_path, len(demo_data.TAXPAYERS))

    def _insert_payment(self, conn: sqlite3.Connection, taxpayer_ref: str, tax_type: TaxType, period_start: date,
                        period_end: date, amount_fen: int, paid_on: date, authority: str) -> str:
        seq = self._next(conn, "payment")
        record_id = f"PR{seq:08d}"
        # 电子税票号码: 18 digits, here: 3, region, payment date, sequence.
        ticket = f"3{self.settings.region_code}{paid_on:%y%m%d}{seq:09d}"
        conn.execute("INSERT INTO payment_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (record_id, taxpayer_ref, tax_type.value, period_start.isoformat(), period_end.isoformat(), amount_fen,
                      paid_on.isoformat(), ticket, authority))
        return ticket

    def _insert_invoice(self, conn: sqlite3.Connection, invoice: Invoice, seller_ref: str | None, sales_fen: int) -> None:
        conn.execute("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (invoice.number, invoice.code, invoice.kind.value, invoice.issued_on.isoformat(), seller_ref, sales_fen,
                      invoice.model_dump_json()))

    @staticmethod
    def _business(conn: sqlite3.Connection, taxpayer_id: str) -> InvoiceHeader:
        row = conn.execute("SELECT header_json FROM businesses WHERE taxpayer_id = ?", (taxpayer_id,)).fetchone()
        if row is None:
            raise LookupError(taxpayer_id)
        return InvoiceHeader.model_validate_json(row[0])

    # --- taxpayers and records -------------------------------------------------------------

    def _taxpayer(self, conn: sqlite3.Connection, id_number: str) -> Taxpayer:
        problem = id_number_problem(id_number)
        if problem:
            raise error("invalid_id_number", reason=problem)
        row = conn.execute("SELECT ref, masked_id, masked_name, kind, authority FROM taxpayers WHERE id_hash = ?",
                           (self._id_hash(id_number),)).fetchone()
        if row is None:
            log.info("no taxpayer registered for %s", mask_id_number(id_number))
            raise error("taxpayer_not_found")
        return Taxpayer(ref=row[0], masked_id_number=row[1], masked_name=row[2], kind=row[3], authority=row[4])

    @staticmethod
    def _record(row: Sequence[Any]) -> PaymentRecord:
        return PaymentRecord(id=row[0], tax_type=TaxType(row[1]), period_start=date.fromisoformat(row[2]),
                             period_end=date.fromisoformat(row[3]), amount_fen=int(row[4]), paid_on=date.fromisoformat(row[5]),
                             ticket_number=row[6], authority=row[7])

    _RECORD_COLUMNS = "id, tax_type, period_start, period_end, amount_fen, paid_on, ticket_number, authority"

    def health(self) -> GatewayHealth:
        with self._connect() as conn:
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchone()
        return GatewayHealth(version=__version__, time=self._clock())

    def find_taxpayer(self, id_number: str) -> Taxpayer:
        with self._connect() as conn:
            return self._taxpayer(conn, id_number)

    def payment_records(self, id_number: str, period_from: date, period_to: date,
                        tax_types: Sequence[TaxType] | None = None) -> list[PaymentRecord]:
        if period_from > period_to:
            raise error("bad_period", reason=("its start is after its end", "起始日期晚于截止日期"))
        if (period_to - period_from).days > self.settings.max_period_days:
            raise error("bad_period", reason=(f"it is longer than {self.settings.max_period_days // 366} years",
                                              f"期间超过{self.settings.max_period_days // 366}年"))
        with self._connect() as conn:
            taxpayer = self._taxpayer(conn, id_number)
            query = f"SELECT {self._RECORD_COLUMNS} FROM payment_records WHERE taxpayer_ref = ? AND paid_on BETWEEN ? AND ?"
            params: list[Any] = [taxpayer.ref, period_from.isoformat(), period_to.isoformat()]
            if tax_types:
                types = sorted({TaxType(t).value for t in tax_types})
                query += f" AND tax_type IN ({', '.join('?' * len(types))})"
                params.extend(types)
            rows = conn.execute(query + " ORDER BY paid_on, id", params).fetchall()
        if not rows:
            log.info("no payment records for %s from %s to %s", taxpayer.masked_id_number, period_from, period_to)
            raise error("no_records", start=period_from.isoformat(), end=period_to.isoformat())
        return [self._record(row) for row in rows]

    # --- certificates ----------------------------------------------------------------------

    def issue_certificate(self, request_id: str, id_number: str, record_ids: Sequence[str]) -> Certificate:
        wanted = sorted(set(record_ids))
        with self._connect() as conn, self._write(conn):
            fingerprint = self._fingerprint("certificate", {"id": self._id_hash(id_number), "records": wanted})
            replay = self._replay(conn, request_id, "certificate", fingerprint)
            if replay is not None:
                return Certificate.model_validate_json(replay)
            taxpayer = self._taxpayer(conn, id_number)
            if not wanted:
                raise error("no_records_chosen")
            rows = conn.execute(
                f"SELECT {self._RECORD_COLUMNS} FROM payment_records WHERE taxpayer_ref = ? AND id IN ({', '.join('?' * len(wanted))})"
                " ORDER BY paid_on, id", [taxpayer.ref, *wanted]).fetchall()
            if len(rows) != len(wanted):
                raise error("records_not_found", count=len(wanted) - len(rows))
            records = tuple(self._record(row) for row in rows)
            now = self._clock()
            number = f"{now:%y}{self.settings.region_code}{self._next(conn, f'certificate:{now:%Y}'):010d}"
            code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
            url = f"{self.settings.verify_base_url}?no={number}&code={code}"
            certificate = Certificate(number=number, verification_code=code, verify_url=url, qr_payload=url,
                                      taxpayer=taxpayer, records=records, total_fen=sum(r.amount_fen for r in records),
                                      issued_at=now, authority=self.settings.authority)
            conn.execute("INSERT INTO certificates VALUES (?, ?, ?, ?)",
                         (number, code, taxpayer.ref, certificate.model_dump_json()))
            self._remember(conn, request_id, "certificate", fingerprint, "certificates", number)
        log.info("certificate %s issued to %s: %d records, %s yuan", number, taxpayer.masked_id_number, len(records),
                 fen_to_yuan(certificate.total_fen))
        return certificate

    def verify_certificate(self, number: str, verification_code: str) -> CertificateCheck:
        with self._connect() as conn:
            row = conn.execute("SELECT verification_code, document_json FROM certificates WHERE number = ?",
                               (number.strip(),)).fetchone()
        if row is None or not hmac.compare_digest(row[0], verification_code.strip().upper()):
            return CertificateCheck(genuine=False, number=number)
        certificate = Certificate.model_validate_json(row[1])
        return CertificateCheck(genuine=True, number=number, issued_at=certificate.issued_at,
                                masked_name=certificate.taxpayer.masked_name, total_fen=certificate.total_fen)

    # --- invoices from requests --------------------------------------------------------------

    def _order(self, conn: sqlite3.Connection, ref: InvoiceRequestRef) -> InvoiceRequest:
        row = conn.execute("SELECT created_on, lines_json, total_fen, invoice_number FROM orders"
                           " WHERE seller_id = ? AND order_ref = ?", (ref.seller_taxpayer_id, ref.order_ref)).fetchone()
        if row is None:
            raise error("order_not_found", order=ref.order_ref)
        if int(row[2]) != ref.total_fen:
            raise error("order_mismatch", reason=(
                f"the order is {fen_to_yuan(int(row[2]))} yuan, the code says {fen_to_yuan(ref.total_fen)} yuan",
                f"订单金额{fen_to_yuan(int(row[2]))}元，二维码为{fen_to_yuan(ref.total_fen)}元"))
        seller = self._business(conn, ref.seller_taxpayer_id)
        lines = tuple(InvoiceLine.model_validate(line) for line in json.loads(row[1]))
        return InvoiceRequest(seller=Party(name=seller.name, taxpayer_id=ref.seller_taxpayer_id), order_ref=ref.order_ref,
                              lines=lines, amount_fen=sum(l.amount_fen for l in lines), tax_fen=sum(l.tax_fen for l in lines),
                              total_fen=int(row[2]), created_on=date.fromisoformat(row[0]), invoiced_number=row[3])

    def lookup_invoice_request(self, ref: InvoiceRequestRef) -> InvoiceRequest:
        with self._connect() as conn:
            return self._order(conn, ref)

    def _invoice_number(self, conn: sqlite3.Connection, day: date) -> str:
        """数电票 number: 2 digits of the year, 2 of the region, 1 of the channel, 15 of sequence."""
        return f"{day:%y}{self.settings.region_code}2{self._next(conn, f'invoice:{day:%Y}') + 1000:015d}"

    @staticmethod
    def _stored_buyer(buyer: InvoiceHeader) -> InvoiceHeader:
        """A natural person's name is kept masked, like every other identity here."""
        return buyer.model_copy(update={"name": mask_name(buyer.name)}) if buyer.natural_person else buyer

    def issue_invoice_from_request(self, request_id: str, ref: InvoiceRequestRef, buyer: InvoiceHeader,
                                   kind: InvoiceKind = InvoiceKind.DIGITAL_GENERAL) -> Invoice:
        kind = InvoiceKind(kind)
        with self._connect() as conn, self._write(conn):
            fingerprint = self._fingerprint("invoice_from_request", {"ref": ref.model_dump(mode="json"),
                                                                     "buyer": buyer.model_dump(mode="json"), "kind": kind.value})
            replay = self._replay(conn, request_id, "invoice_from_request", fingerprint)
            if replay is not None:
                return Invoice.model_validate_json(replay)
            order = self._order(conn, ref)
            if order.invoiced_number:
                raise error("already_invoiced", number=order.invoiced_number)
            if not kind.digital:
                raise error("invalid_request", reason=("only fully digital invoices (数电票) are issued here", "此处只开具数电发票"))
            if kind.special and buyer.natural_person:
                raise error("buyer_tax_id_required")
            if buyer.taxpayer_id == ref.seller_taxpayer_id:
                raise error("taxpayer_is_not_seller")
            now = self._clock()
            number = self._invoice_number(conn, now.date())
            invoice = Invoice(kind=kind, number=number, issued_on=now.date(), issued_at=now, seller=order.seller,
                              buyer=self._stored_buyer(buyer), lines=order.lines, amount_fen=order.amount_fen,
                              tax_fen=order.tax_fen, total_fen=order.total_fen,
                              qr_payload=format_invoice_qr(kind, None, number, order.amount_fen, now.date(), None),
                              remarks=f"订单号 {ref.order_ref}", issuer=order.seller.name)
            self._insert_invoice(conn, invoice, seller_ref=None, sales_fen=0)
            conn.execute("UPDATE orders SET invoice_number = ? WHERE seller_id = ? AND order_ref = ?",
                         (number, ref.seller_taxpayer_id, ref.order_ref))
            self._remember(conn, request_id, "invoice_from_request", fingerprint, "invoices", number)
        log.info("invoice %s issued for order %s of %s: %s yuan", number, ref.order_ref, ref.seller_taxpayer_id,
                 fen_to_yuan(invoice.total_fen))
        return invoice

    # --- self-invoicing ----------------------------------------------------------------------

    def _month_sales(self, conn: sqlite3.Connection, taxpayer_ref: str, day: date) -> int:
        start = day.replace(day=1).isoformat()
        row = conn.execute("SELECT COALESCE(SUM(sales_fen), 0) FROM invoices WHERE seller_ref = ? AND issued_on >= ?"
                           " AND issued_on <= ?", (taxpayer_ref, start, day.isoformat())).fetchone()
        return int(row[0])

    def _compute(self, conn: sqlite3.Connection, taxpayer_ref: str, category: SelfInvoiceCategory, total_fen: int,
                 day: date) -> tuple[int, SelfInvoiceComputation]:
        """The seller's earlier sales this month, and the taxes on this sale given them."""
        before = self._month_sales(conn, taxpayer_ref, day)
        try:
            return before, compute_self_invoice(self.rules, day, category, self.settings.location, total_fen, before)
        except RuleGap:
            raise error("rules_outdated", day=day.isoformat()) from None

    @staticmethod
    def _refuse_used_prefill(conn: sqlite3.Connection, prefill_id: str | None) -> None:
        """A pre-filled code gets one invoice: a code that has one is refused, with its number."""
        if prefill_id is None:
            return
        row = conn.execute("SELECT invoice_number FROM prefill_uses WHERE prefill_id = ?", (prefill_id,)).fetchone()
        if row is not None:
            raise error("prefill_used", number=row[0])

    def quote_self_invoice(self, seller_id_number: str, buyer: InvoiceHeader, category: SelfInvoiceCategory,
                           amount_fen: int, item_name: str | None = None, prefill_id: str | None = None) -> SelfInvoiceQuote:
        category = SelfInvoiceCategory(category)
        if prefill_id is not None and prefill_id_problem(prefill_id):
            raise error("invalid_request", reason=f"prefill_id: {prefill_id_problem(prefill_id)}")
        if not 0 < amount_fen <= self.settings.max_self_invoice_fen:
            raise error("amount_out_of_range", low="0.01", high=fen_to_yuan(self.settings.max_self_invoice_fen))
        now = self._clock()
        with self._connect() as conn, self._write(conn):
            taxpayer = self._taxpayer(conn, seller_id_number)
            self._refuse_used_prefill(conn, prefill_id)
            before, computed = self._compute(conn, taxpayer.ref, category, amount_fen, now.date())
            quote = SelfInvoiceQuote(
                quote_id=f"Q{secrets.token_hex(10)}",
                seller=Party(name=taxpayer.masked_name, taxpayer_id=taxpayer.masked_id_number, natural_person=True),
                buyer=self._stored_buyer(buyer), category=category, item_name=(item_name or category.default_item).strip(),
                location=self.settings.location, total_fen=amount_fen, amount_fen=computed.amount_fen,
                vat_fen=computed.vat_fen, vat_exempt=computed.vat_exempt, lines=computed.lines,
                tax_due_fen=computed.tax_due_fen, month_sales_before_fen=before,
                exemption_threshold_fen=computed.threshold_fen, computed_on=now.date(),
                expires_at=now + timedelta(seconds=self.settings.quote_ttl_s), prefill_id=prefill_id)
            conn.execute("INSERT INTO quotes VALUES (?, ?, ?, ?, NULL)",
                         (quote.quote_id, taxpayer.ref, quote.expires_at.isoformat(), quote.model_dump_json()))
        log.info("self-invoice quote %s for %s: %s yuan, tax due %s yuan%s", quote.quote_id, taxpayer.masked_id_number,
                 fen_to_yuan(amount_fen), fen_to_yuan(quote.tax_due_fen), f" (pre-filled {prefill_id})" if prefill_id else "")
        return quote

    def issue_self_invoice(self, request_id: str, quote_id: str, payment: PaymentProof) -> Invoice:
        with self._connect() as conn, self._write(conn):
            fingerprint = self._fingerprint("self_invoice", {"quote": quote_id, "payment": payment.model_dump(mode="json")})
            replay = self._replay(conn, request_id, "self_invoice", fingerprint)
            if replay is not None:
                return Invoice.model_validate_json(replay)
            row = conn.execute("SELECT taxpayer_ref, expires_at, document_json, invoice_number FROM quotes WHERE id = ?",
                               (quote_id,)).fetchone()
            if row is None:
                raise error("quote_not_found")
            if row[3]:
                raise error("quote_used", number=row[3])
            now = self._clock()
            if now > datetime.fromisoformat(row[1]):
                raise error("quote_expired")
            quote = SelfInvoiceQuote.model_validate_json(row[2])
            # Two kiosks may have quoted the same code before either issued: the first issue wins.
            self._refuse_used_prefill(conn, quote.prefill_id)
            if payment.amount_fen != quote.tax_due_fen:
                raise error("payment_mismatch", paid=fen_to_yuan(payment.amount_fen), due=fen_to_yuan(quote.tax_due_fen))
            taxpayer_ref = str(row[0])
            # Another invoice this month, or midnight, may have moved the seller across the
            # threshold since the quote: the taxpayer must see and pay the tax that applies.
            _, computed = self._compute(conn, taxpayer_ref, quote.category, quote.total_fen, now.date())
            if computed.lines != quote.lines:
                raise error("quote_expired")
            tickets = self._pay_taxes(conn, taxpayer_ref, computed.lines, now.date())
            number = self._invoice_number(conn, now.date())
            line = InvoiceLine(name=f"*{quote.category.item_class}*{quote.item_name}", amount_fen=computed.amount_fen,
                               tax_rate=Decimal(0) if computed.vat_exempt else computed.vat_rate, tax_exempt=computed.vat_exempt,
                               tax_fen=computed.vat_fen, total_fen=quote.total_fen)
            remarks = f"代开 {self.settings.authority}；完税凭证号 {', '.join(tickets)}" if tickets else f"代开 {self.settings.authority}"
            invoice = Invoice(kind=InvoiceKind.DIGITAL_GENERAL, number=number, issued_on=now.date(), issued_at=now,
                              seller=quote.seller, buyer=quote.buyer, lines=(line,), amount_fen=line.amount_fen,
                              tax_fen=line.tax_fen, total_fen=line.total_fen,
                              qr_payload=format_invoice_qr(InvoiceKind.DIGITAL_GENERAL, None, number, line.amount_fen,
                                                           now.date(), None),
                              remarks=remarks, issuer=self.settings.authority)
            self._insert_invoice(conn, invoice, seller_ref=taxpayer_ref, sales_fen=computed.sales_fen)
            conn.execute("UPDATE quotes SET invoice_number = ? WHERE id = ?", (number, quote_id))
            if quote.prefill_id is not None:
                conn.execute("INSERT INTO prefill_uses VALUES (?, ?, ?)", (quote.prefill_id, number, now.isoformat()))
            self._remember(conn, request_id, "self_invoice", fingerprint, "invoices", number)
        log.info("self-invoice %s issued for %s: %s yuan, tax %s yuan paid (%s)", number, quote.seller.taxpayer_id,
                 fen_to_yuan(invoice.total_fen), fen_to_yuan(quote.tax_due_fen), payment.reference)
        return invoice

    def _pay_taxes(self, conn: sqlite3.Connection, taxpayer_ref: str, lines: Sequence[TaxLine], day: date) -> list[str]:
        """Payment records for what was paid with a self-invoice, so a certificate can show them."""
        by_type: dict[TaxType, int] = {}
        types = {"vat": TaxType.VAT, "umct": TaxType.UMCT, "edu": TaxType.EDU_SURCHARGE,
                 "local_edu": TaxType.LOCAL_EDU_SURCHARGE, "iit": TaxType.IIT}
        for line in lines:
            tax_type = types[line.code.removesuffix("_relief")]
            by_type[tax_type] = by_type.get(tax_type, 0) + line.amount_fen
        start = day.replace(day=1)
        return [self._insert_payment(conn, taxpayer_ref, tax_type, start, day, amount, day, self.settings.authority)
                for tax_type, amount in by_type.items() if amount > 0]

    # --- invoice check -------------------------------------------------------------------------

    def check_invoice(self, fields: InvoiceQrFields) -> InvoiceCheckResult:
        with self._connect() as conn:
            row = conn.execute("SELECT document_json FROM invoices WHERE number = ? AND COALESCE(code, '') = ?",
                               (fields.number, fields.code or "")).fetchone()
        if row is None:
            log.info("invoice check: %s %s not found", fields.code or "-", fields.number)
            return InvoiceCheckResult(status="not_found", genuine=False,
                                      message_en="No invoice with this code and number was issued. It may be forged.",
                                      message_zh="查无此票：没有开具过该代码和号码的发票，可能是伪造发票。")
        invoice = Invoice.model_validate_json(row[0])
        mismatched = [name for name, printed, issued in (
            ("kind", fields.kind, invoice.kind),
            ("amount", fields.amount_fen, invoice.amount_fen),
            ("date", fields.issued_on, invoice.issued_on),
            ("check_code", fields.check_code, invoice.check_code),
        ) if printed != issued]
        if mismatched:
            log.info("invoice check: %s differs in %s", fields.number, ", ".join(mismatched))
            return InvoiceCheckResult(
                status="mismatch", genuine=False, mismatched=tuple(mismatched),
                message_en=f"An invoice with this number exists, but its {', '.join(mismatched)} differ from what is printed."
                           " It may be altered or forged.",
                message_zh=f"该号码的发票存在，但{'、'.join(_FIELD_ZH[m] for m in mismatched)}与票面不符，可能被篡改或伪造。")
        summary = InvoiceSummary(kind=invoice.kind, number=invoice.number, code=invoice.code, issued_on=invoice.issued_on,
                                 seller_name=invoice.seller.name, buyer_name=invoice.buyer.name,
                                 amount_fen=invoice.amount_fen, tax_fen=invoice.tax_fen, total_fen=invoice.total_fen)
        return InvoiceCheckResult(status="genuine", genuine=True, invoice=summary,
                                  message_en="This invoice was issued as printed.", message_zh="查验通过：该发票与开具信息一致。")

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own connection."""


_FIELD_ZH = {"kind": "发票种类", "amount": "金额", "date": "开票日期", "check_code": "校验码"}

