import sys

from hullcheck.cli.main import main, tune_gc

tune_gc()
sys.exit(main())
