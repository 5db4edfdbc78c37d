"""`python -m tempyral` is the `tempyral` command."""

import sys

from tempyral.cli.main import main

sys.exit(main())
