"""The scores of an evaluation, per file and overall, and their table, CSV and JSON forms.

:func:`turnpoint.changes.evaluation.evaluate` fills an :class:`EvaluationReport` with one
:class:`FileScore` per file; the report sums them (count-weighted change scores, time-weighted
purity and coverage) and writes them for the terminal (:meth:`EvaluationReport.format_table`) or
a file (:meth:`EvaluationReport.write`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from turnpoint.changes.metrics import BoundaryScore, PurityCoverage
from turnpoint.core.fileio import atomic_write_text

__all__ = ["EvaluationReport", "FileScore"]


@dataclass(frozen=True)
class FileScore:
    """Scores of one file.

    Attributes
    ----------
    uri : file identifier
    segmentation : purity/coverage components (seconds of speech)
    boundary : boundary hits / reference / hypothesis counts
    scored : seconds of the scored regions
    """

    uri: str
    segmentation: PurityCoverage
    boundary: BoundaryScore
    scored: float

    @property
    def purity(self) -> float:
        return self.segmentation.purity

    @property
    def coverage(self) -> float:
        return self.segmentation.coverage

    @property
    def f_measure(self) -> float:
        return self.segmentation.f_measure

    def to_dict(self) -> dict:
        return {
            "uri": self.uri,
            "purity": round(self.purity, 5),
            "coverage": round(self.coverage, 5),
            "f_measure": round(self.f_measure, 5),
            "precision": round(self.boundary.precision, 5),
            "recall": round(self.boundary.recall, 5),
            "f1": round(self.boundary.f1, 5),
            "hits": self.boundary.hits,
            "n_reference": self.boundary.n_reference,
            "n_hypothesis": self.boundary.n_hypothesis,
            "scored_seconds": round(self.scored, 3),
        }


@dataclass
class EvaluationReport:
    """Per-file scores, their totals, the settings, and which files were (not) scored."""

    files: list[FileScore]
    settings: dict
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def overall(self) -> FileScore:
        segmentation = sum((f.segmentation for f in self.files), PurityCoverage(0.0, 0.0, 0.0))
        boundary = sum((f.boundary for f in self.files), BoundaryScore(0, 0, 0))
        return FileScore("TOTAL", segmentation, boundary, sum(f.scored for f in self.files))

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "scored_files": [f.uri for f in self.files],
            "skipped_files": self.skipped,
            "files": [f.to_dict() for f in self.files],
            "overall": self.overall.to_dict(),
        }

    def to_csv(self) -> str:
        buffer = io.StringIO()
        rows = [f.to_dict() for f in [*self.files, self.overall]]
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def format_table(self) -> str:
        """A fixed-width table for the terminal (percentages)."""
        header = f"{'file':<24} {'purity':>7} {'cover':>7} {'F(p,c)':>7} {'prec':>7} {'recall':>7} {'F1':>7} {'ref':>5} {'hyp':>5}"
        lines = [header, "-" * len(header)]
        for item in [*self.files, self.overall]:
            if item.uri == "TOTAL":
                lines.append("-" * len(header))
            b = item.boundary
            lines.append(
                f"{item.uri[:24]:<24} {100 * item.purity:7.1f} {100 * item.coverage:7.1f} {100 * item.f_measure:7.1f} "
                f"{100 * b.precision:7.1f} {100 * b.recall:7.1f} {100 * b.f1:7.1f} {b.n_reference:5d} {b.n_hypothesis:5d}"
            )
        s = self.settings
        what = (
            "speaker changes (changes of the active speaker set; across a pause, the pause)"
            if s.get("boundaries", "speaker") == "speaker"
            else "segmentation boundaries (every turn boundary, closer than 2 x tolerance merged)"
        )
        lines.append(
            f"{len(self.files)} files scored; {what} matched one-to-one within ±{s['tolerance']} s; "
            f"purity/coverage by pyannote.metrics (fill_gaps {s['fill_gaps']} s, bridge {s['bridge']} s)"
        )
        if self.skipped:
            lines.append(f"not scored: {', '.join(f'{uri} ({why})' for uri, why in self.skipped.items())}")
        return "\n".join(lines)

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON (``.json``) or CSV (anything else), atomically."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) + "\n" if path.suffix.lower() == ".json" else self.to_csv()
        atomic_write_text(path, text)
        return path
