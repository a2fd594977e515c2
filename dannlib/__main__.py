"""`python -m dannlib`: the same as the `dann` command."""

import sys

from dannlib.cli import main

sys.exit(main())
