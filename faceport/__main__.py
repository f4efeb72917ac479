"""``python -m faceport`` is the ``faceport`` command."""

from faceport.cli.main import main

raise SystemExit(main())
