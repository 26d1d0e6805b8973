"""Use cases: each opens a unit of work, loads, asks the domain, writes, commits."""
