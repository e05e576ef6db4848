"""ESC/POS receipt and ticket printers: printer URLs and profiles, the real-time status
protocol, layouts rendered to ESC/POS bytes (via python-escpos) and to PNG previews, the
`ReceiptPrinter` driver, the `taxhall print` command and a simulator that speaks ESC/POS on a
TCP port, a pseudo-terminal or a FIFO. See docs/printers.md."""
