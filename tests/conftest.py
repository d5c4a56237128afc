"""Shared pytest configuration. Fixture modules live in tests/fixtures/ and are plugged in here."""

pytest_plugins = [
    "tests.fixtures.images",
    "tests.fixtures.keys",
    "tests.fixtures.postgres",
    "tests.fixtures.registry",
]
