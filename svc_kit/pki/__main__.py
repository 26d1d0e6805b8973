"""``python -m svc_kit.pki``."""

import sys

from svc_kit.pki._cli import main

sys.exit(main())
