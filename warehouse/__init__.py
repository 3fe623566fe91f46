"""The warehouse stage without Dagster: run the dbt project into the build copy and publish it.

``python -m warehouse build`` does what the Dagster assets do (see ``orchestration/warehouse``); both run
the same dbt command inside :func:`building`.
"""

from warehouse.project import DBT_PROJECT_DIR, build_args, dbt_environment, ensure_manifest
from warehouse.publish import BuildCopy, build_and_publish, building, publish, semantic_manifest_path

__all__ = ["DBT_PROJECT_DIR", "BuildCopy", "build_and_publish", "build_args", "building", "dbt_environment",
           "ensure_manifest", "publish", "semantic_manifest_path"]
