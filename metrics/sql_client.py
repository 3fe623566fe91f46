"""MetricFlow's SqlClient protocol over a DuckDB connection, in process.

MetricFlow needs a client for its DuckDB dialect (the SQL renderer) and, for its data warehouse
validations, to run statements. dbt-metricflow's own client goes through a dbt adapter, which would load
the whole dbt project for every reader; this one is a thin wrapper around a DuckDB connection.
"""

from __future__ import annotations

from typing import Any

import duckdb
from metricflow.data_table.mf_table import MetricFlowDataTable
from metricflow.protocols.sql_client import SqlEngine
from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer
from metricflow.sql.render.sql_plan_renderer import SqlPlanRenderer
from metricflow_semantics.sql.sql_bind_parameters import SqlBindParameterSet

_NO_PARAMETERS = SqlBindParameterSet()


class DuckDbSqlClient:
    """A MetricFlow SqlClient; ``connection`` may be None when it only renders SQL (compilation)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self._connection = connection
        self._renderer = DuckDbSqlPlanRenderer()

    @property
    def sql_engine_type(self) -> SqlEngine:
        return SqlEngine.DUCKDB

    @property
    def sql_plan_renderer(self) -> SqlPlanRenderer:
        return self._renderer

    def query(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = _NO_PARAMETERS
              ) -> MetricFlowDataTable:
        result = self._connected().execute(stmt, _parameters(sql_bind_parameter_set))
        names = [column[0] for column in result.description or ()]
        return MetricFlowDataTable.create_from_rows(column_names=names, rows=result.fetchall())

    def execute(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = _NO_PARAMETERS) -> None:
        self._connected().execute(stmt, _parameters(sql_bind_parameter_set))

    def dry_run(self, stmt: str, sql_bind_parameter_set: SqlBindParameterSet = _NO_PARAMETERS) -> None:
        self._connected().execute(f"explain {stmt}", _parameters(sql_bind_parameter_set))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"

    def _connected(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            raise RuntimeError("this DuckDbSqlClient only compiles SQL; give it a connection to run statements")
        return self._connection


def _parameters(parameter_set: SqlBindParameterSet) -> dict[str, Any] | None:
    items = {item.key: item.value.union_value for item in parameter_set.param_items}
    return items or None
