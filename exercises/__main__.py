"""`python -m exercises start|list|grade`."""

import sys

from exercises.cli import main

sys.exit(main())
