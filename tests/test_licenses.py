from __future__ import annotations

from hullcheck import licenses


def test_one_table_and_validation_never_raises() -> None:
    assert licenses.licensing() is licenses.licensing()
    info = licenses.validate("mit OR apache-2.0")
    assert info is not None and not info.errors
    assert str(info.normalized_expression) == "MIT OR Apache-2.0"
    bad = licenses.validate("((((")
    assert bad is None or bad.errors
