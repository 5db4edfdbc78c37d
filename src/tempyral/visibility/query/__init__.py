"""Temporal's visibility list-filter language: `parse` a query, `to_sql` it for SQLite visibility."""

from tempyral.visibility.query.ast import Query
from tempyral.visibility.query.errors import QueryError
from tempyral.visibility.query.parser import parse
from tempyral.visibility.query.sql import DEFAULT_ORDER_BY, is_group_by_status, to_sql

__all__ = ["DEFAULT_ORDER_BY", "Query", "QueryError", "is_group_by_status", "parse", "to_sql"]
