"""Hardware drivers and their simulators: ESC/POS printers, QR/barcode scanners, ID-card
readers and LED boards. Imports no application package."""
