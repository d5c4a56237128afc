"""Rendering for people and machines: tables, JSON, SARIF."""
