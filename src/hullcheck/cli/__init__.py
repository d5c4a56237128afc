"""Command-line interface: one module per subcommand; ``main(argv) -> int``; only __main__ exits."""
