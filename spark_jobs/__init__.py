"""PySpark jobs for the lake: compaction, enrichment and rollups (no Dagster imports)."""
