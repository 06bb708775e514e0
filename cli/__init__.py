"""`pkictl`: the operators' command line (one module per noun group)."""
