"""The tax gateway: what the kiosk asks the tax back end (certificates, invoices, checks).

`interface.TaxGateway` is the contract; `local.LocalTaxGateway` is the embedded default on
SQLite with demo data; `client.HttpTaxGateway` speaks the HTTP API of docs/gateway-openapi.yaml,
which `taxhall gateway` (`command.py`) serves from the local implementation. Pure parts —
check digits, money, tax rules, invoice QR parsing — have no I/O. docs/gateway.md is the guide.
"""
