"""Run the whole paymesh stack until Ctrl-C: what `make run` calls.

identity and ledger (N replicas each with --replicas / PAYMESH_REPLICAS) on
port 0 behind one Envoy: REST on PAYMESH_REST_ADDR (127.0.0.1:8443), gRPC with
mTLS on PAYMESH_GRPC_ADDR (127.0.0.1:9443). `--help` lists every setting; the
package scripts/stack/ holds the supervisor.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file (python scripts/run_stack.py), Python puts scripts/ on the path,
# not the repository root that `scripts.stack` and the services import from.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.stack.main import main

if __name__ == "__main__":
    sys.exit(main())
