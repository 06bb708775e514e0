"""Key storage behind the Signer port: encrypted PKCS#8 files, PKCS#11 tokens."""
