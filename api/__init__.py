"""The platform's HTTP API (FastAPI): model predictions with explanations, and later queries, exports,
reports and alerts. ``python -m api`` serves it on ``ANALYTICS_API_HOST``:``ANALYTICS_API_PORT``."""
