"""Adapters that plug uwe models into other tools; each imports its tool only when it is itself imported."""
