"""One generator run: simulate, hand every chunk to a sink, then write the ground truth."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from collector.generator.model import GeneratorConfig, TrafficModel
from collector.generator.sinks import Sink, SinkReport
from collector.generator.truth import write_truth


@dataclass(frozen=True)
class RunSummary:
    events: int
    duplicates: int
    malformed: int
    sessions: int
    seconds: float
    sink: SinkReport
    truth_folder: Path

    @property
    def events_per_second(self) -> float:
        return (self.events + self.duplicates + self.malformed) / max(self.seconds, 1e-9)


def run_folder(data_dir: Path, run_name: str) -> Path:
    return data_dir / "generator" / run_name


def generate(config: GeneratorConfig, sink: Sink, truth_folder: Path) -> RunSummary:
    started = time.perf_counter()
    model = TrafficModel(config)
    for chunk in model.chunks():
        sink.send(chunk)
    report = sink.close()
    truth = model.truth()
    write_truth(truth, config, truth_folder)
    counts = truth.counts
    return RunSummary(counts["events"], counts["duplicates"], counts["malformed"], counts["sessions"],
                      time.perf_counter() - started, report, truth_folder)
