"""``python -m mixkit``: the ``mixkit`` command line (see :mod:`mixkit.cli`)."""

from .cli import main

raise SystemExit(main())
