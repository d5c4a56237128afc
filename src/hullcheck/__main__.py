from hullcheck.cli.main import entry

entry()
