"""Pure X.509 functions over cryptography objects: no I/O, no database (DESIGN §2)."""
