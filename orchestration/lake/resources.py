"""Running a Spark job of `spark_jobs/` out of process, with its JSON report file as the contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

import dagster as dg
from pydantic import Field

OUTPUT_TAIL_LINES = 40
STOP_GRACE_SECONDS = 30


class SparkJobRunner(dg.ConfigurableResource):
    """Runs ``python -m spark_jobs.<job> … --report <file>`` in its own process group and returns the report.

    The job reads its configuration from the ``ANALYTICS_*`` environment it inherits, so the same command
    runs on ``local[*]`` or against a cluster (``ANALYTICS_SPARK_MASTER``). A Spark crash fails the step,
    never the Dagster process; a cancelled run stops the job and its JVM.
    """

    python: str = Field(default="", description="Python interpreter of the jobs; empty: Dagster's own.")

    def run(self, context: dg.AssetExecutionContext, module: str, args: list[str]) -> dict:
        with tempfile.TemporaryDirectory(prefix="spark-job-") as folder:
            report_path = Path(folder) / "report.json"
            command = [self.python or sys.executable, "-m", module, *args, "--report", str(report_path)]
            context.log.info(f"running {' '.join(command)}")
            exit_code, tail = _stream(context, command)
            if exit_code != 0 or not report_path.exists():
                output = "".join(tail)
                raise dg.Failure(
                    description=f"`python -m {module} {' '.join(args)}` exited with code {exit_code}"
                    f"{'' if exit_code else ' without writing its report'}; its last output lines:\n{output}",
                    metadata={"exit_code": exit_code, "output_tail": dg.MetadataValue.text(output)},
                )
            return json.loads(report_path.read_text())


def _stream(context: dg.AssetExecutionContext, command: list[str]) -> tuple[int, deque[str]]:
    """Run ``command``, copying its merged stdout and stderr to the Dagster log line by line."""
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    # Its own process group, so stopping it (run cancelled, step interrupted) also stops Spark's JVM.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", bufsize=1, start_new_session=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line)
            context.log.info(line.rstrip())
        return process.wait(), tail
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
