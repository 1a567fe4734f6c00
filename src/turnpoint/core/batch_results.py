"""What a batch run gives back: one result per file, and the report of the whole run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FileResult:
    """One file of a batch: where its outputs are (scores stay on disk); a task adds what it found."""

    path: str
    uri: str
    duration: float | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False  # outputs were already complete
    warnings: list[str] = field(default_factory=list)  # e.g. the file decoded shorter than its header says


@dataclass
class BatchReport:
    """What a batch run did: files processed or skipped, and (path, message) of every failure."""

    results: list[FileResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    processes: int = 1  # processes that worked on the files (this one and its workers)

    @property
    def done(self) -> list[FileResult]:
        return [r for r in self.results if not r.skipped]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if r.skipped]
