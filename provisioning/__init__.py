"""Technicians' tools: detect hardware, write config, credentials, self-test, install."""
