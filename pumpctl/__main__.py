"""``python -m pumpctl`` is the ``pumpctl`` command."""

import sys

from pumpctl.cli import main

sys.exit(main())
