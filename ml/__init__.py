"""Machine learning on the served warehouse: features as of a date, churn, lifetime value and segments
trained and registered in MLflow, scores written back through the build-then-publish path."""
