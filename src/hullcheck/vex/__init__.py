"""VEX statements and ignore rules: they *mark* findings (with the reason), never delete them.

    statements = load_vex(path)          # OpenVEX (v0.0.x and v0.2) or CycloneDX VEX
    rules = load_ignore(path)            # hullcheck's ignore file (YAML)
    findings, notes = apply(findings, statements, rules, today=date.today())

Files are read through ``hullcheck.untrusted`` (byte caps that do not trust ``stat()``,
nesting and YAML alias expansion bounded); wrong types are one-line errors. A statement
applies only to the products it names in a form that can be checked (``vex.products``).
"""

from hullcheck.vex.apply import apply
from hullcheck.vex.documents import MAX_DOC, load_vex
from hullcheck.vex.ignore import load_ignore
from hullcheck.vex.model import SUPPRESSING, IgnoreRule, Product, Statement

__all__ = ["MAX_DOC", "SUPPRESSING", "IgnoreRule", "Product", "Statement", "apply",
           "load_ignore", "load_vex"]
