import sys

from hullcheck.cli.main import main

sys.exit(main())
