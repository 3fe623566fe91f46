"""Running a suite on a batch with Great Expectations, in memory.

Each run builds its own ephemeral context (a pandas data source, a whole-dataframe batch definition, the
suite, a validation definition) so that concurrent runs of different partitions share no state; what is
kept is written to the file project afterwards (``project.save``).
"""

from __future__ import annotations

import great_expectations as gx
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.execution_engine import pandas_execution_engine
from great_expectations.expectations.expectation import Expectation

from data_quality.batch import Batch
from data_quality.outcomes import SAMPLE_ROWS

# Great Expectations fingerprints every pandas batch under HASH_THRESHOLD bytes (1 GB) with an md5 over
# pd.util.hash_pandas_object of all rows: ~2 s per million rows here, more than validating them, and only
# shown as a batch marker. There is no setting for it; the module constant is the only switch (pinned 1.24.1).
pandas_execution_engine.HASH_THRESHOLD = 0

# SUMMARY gives counts, the first offending values and their row index, which is what a sample needs;
# COMPLETE would list every offending row of a 10-million-row day.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}


def run_suite(suite_name: str, expectations: list[Expectation], batch: Batch,
              run_id: gx.RunIdentifier) -> ExpectationSuiteValidationResult:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    data = (context.data_sources.add_pandas("data_quality")
            .add_dataframe_asset(suite_name)
            .add_batch_definition_whole_dataframe("partition"))
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    validation = context.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=data, suite=suite))
    return validation.run(batch_parameters={"dataframe": batch.frame}, expectation_parameters=batch.parameters,
                          result_format=RESULT_FORMAT, run_id=run_id)
