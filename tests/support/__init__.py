"""Test support: the run-time PKI, tool discovery and database selection."""
