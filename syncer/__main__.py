"""`python -m syncer`: the same entry point as the `syncer` console script."""

from __future__ import annotations

import sys

from syncer import cli

sys.exit(cli.main())
