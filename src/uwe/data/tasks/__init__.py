"""Builders for every WorkBench-offline task; the registry is :mod:`uwe.data.tasks.registry`."""
