"""The gateway's rules and types: pure Python, no I/O (an import contract enforces it)."""
