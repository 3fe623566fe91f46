"""Machine learning on the served warehouse: features as of a date, churn, lifetime value and segments
trained and registered in MLflow, scores written back through the build-then-publish path."""

import os

# MLflow starts a telemetry client when it is imported, which reports to the internet; the stack sends
# nothing beyond the machine it runs on. Set before any ml module imports mlflow; setting the variable to
# false opts back in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
