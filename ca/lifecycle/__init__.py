"""Issuer lifecycle for operators: create, install, list, rotate, retire, back up."""
