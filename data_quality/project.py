"""The Great Expectations project under ``<data_dir>/quality/``: a file-mode context that keeps the suites
and every validation result, and renders the data docs site from them.

Validations of different partitions may run at the same time (a Dagster backfill); every write to the
project and every docs build holds an exclusive lock on ``<data_dir>/quality/.lock``, so nobody reads a
half-written result. The project lives on local disk under the data folder (only the lake may be remote).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import great_expectations as gx
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.expectations.expectation import Expectation

from analytics_settings import Settings
from data_quality import offline_site

SITE = "local_site"  # the site a new file project configures: gx/uncommitted/data_docs/local_site/


def project_root(settings: Settings) -> Path:
    return settings.data_dir / "quality"


@contextmanager
def opened(settings: Settings) -> Iterator[FileDataContext]:
    """The file project, created on first use, held under the project lock."""
    root = project_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            context = gx.get_context(mode="file", project_root_dir=str(root))
            site = context.variables.data_docs_sites[SITE]
            if site.get("show_how_to_buttons", True):  # a new project: no tutorial links and newsletter box
                site["show_how_to_buttons"] = False
                context.variables.save()
            yield context
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def save(settings: Settings, suite_name: str, suite: list[Expectation], result: ExpectationSuiteValidationResult,
         run_id: gx.RunIdentifier, batch_identifier: str) -> str:
    """Store the suite's definition (all its rules, bounds as parameters) and one validation result; the
    path of the result's data docs page (it exists once ``build_data_docs`` ran)."""
    with opened(settings) as context:
        context.suites.add_or_update(gx.ExpectationSuite(name=suite_name, expectations=suite))
        suite_key = ExpectationSuiteIdentifier(name=suite_name)
        key = ValidationResultIdentifier(expectation_suite_identifier=suite_key, run_id=run_id,
                                         batch_identifier=batch_identifier)
        context.validation_results_store.store_validation_results(result, key, suite_key)
        [page] = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE, only_if_exists=False)
    return str(_path(page["site_url"]))


def build_data_docs(settings: Settings) -> Path:
    """Render the pages of the suites and of every stored result that has none yet, then the index; the
    path of ``index.html``. Earlier pages are not rendered again, so a build costs what is new."""
    with opened(settings) as context:
        suites = [ExpectationSuiteIdentifier(name=suite.name) for suite in context.suites.all()]
        [index] = context.get_docs_sites_urls(site_name=SITE, only_if_exists=False)
        site = _path(index["site_url"]).parent
        stored = context.validation_results_store.list_keys()
        new = [key for key in stored if not _page(site, key).exists()]
        # a list of identifiers is searched once per stored result: pass None (everything) when all are new
        context.build_data_docs(site_names=[SITE],
                                resource_identifiers=None if len(new) == len(stored) else [*suites, *new])
        offline_site.make_offline(site)  # CDN styles and scripts -> static/vendor/; only new pages are rewritten
    return site / "index.html"


def _page(site: Path, key: ValidationResultIdentifier) -> Path:
    """Where the site keeps the page of a result: its store path under ``validations/``, as ``.html`` (the
    layout of Great Expectations' HTML site store; ``get_docs_sites_urls`` says the same at 0.1 s a key)."""
    *folders, batch = key.to_tuple()
    return site.joinpath("validations", *folders, f"{batch}.html")


def _path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))
