"""The lake layer: bronze compaction and gold rollups of the landing zone, run by Spark out of process."""
