"""Readers for the real raw formats; each returns a DataFrame of strings with checked columns."""
