"""Message contracts, one module per family. Messages only ever gain fields (with defaults)."""
