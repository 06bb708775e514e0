"""Portail PKI core: framework-free CA building blocks (DESIGN §2)."""
