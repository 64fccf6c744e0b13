"""The latest intelligence report per project, as a JSON file under the data dir.

Memories (Mem0) hold the claims the writers use; the report holds the whole analysis behind them (every
group, every feature, the audience fingerprint), for `sma insights --json`, the dashboard and the posting
optimizer. Written atomically (temporary file, then rename), so a reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sma.models.intelligence import IntelligenceReport


class ReportStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, project_id: str) -> Path:
        return self.folder / f"{project_id}.json"

    def save(self, report: IntelligenceReport) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(report.project_id)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".report-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(report.model_dump_json(indent=1))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def load(self, project_id: str) -> IntelligenceReport | None:
        """The latest report, or None when there is none (or it cannot be read: the next run rewrites it)."""
        path = self.path(project_id)
        try:
            return IntelligenceReport.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def report_store(settings: object) -> ReportStore:
    return ReportStore(Path(getattr(settings, "data_dir", Path("data"))) / "intelligence")
