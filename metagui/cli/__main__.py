"""``python -m metagui.cli``: the same as the ``metagui`` command."""

from __future__ import annotations

import sys

from metagui.cli import main

sys.exit(main())
