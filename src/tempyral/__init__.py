"""Tempyral: a durable-execution server in Python that speaks Temporal's gRPC API."""

__version__ = "0.1.0"
