"""The transcript as the GUI shows it (pure, no Qt): committed segments with sentiment, one partial tail."""

from __future__ import annotations

from dataclasses import dataclass, field

from emolive.core.contracts import EmotionEstimate, TranscriptSegment
from emolive.core.labels import SENTIMENTS

MATCH_SLACK_S = 0.05


@dataclass
class CommittedLine:
    segment: TranscriptSegment
    sentiment: str | None = None  # one of SENTIMENTS once the text model has judged it
    confidence: float = 0.0


@dataclass
class TranscriptModel:
    """Committed lines (never change) plus the newest partial hypothesis (replaced by each update).

    Sentiment comes from the fused estimates: a committed line takes the text modality's sentiment
    of the first estimate that mentions its text in ``transcript`` or whose text output is at least
    as recent as the line's end.
    """

    max_lines: int = 500
    lines: list[CommittedLine] = field(default_factory=list)
    partial: TranscriptSegment | None = None
    version: int = 0  # bumped on every visible change, so the view redraws only when needed

    def add(self, segment: TranscriptSegment) -> None:
        if segment.committed:
            if segment.text.strip():
                self.lines.append(CommittedLine(segment))
                del self.lines[: max(0, len(self.lines) - self.max_lines)]
            if self.partial is not None and self.partial.start <= segment.end:
                self.partial = None
        else:
            self.partial = segment if segment.text.strip() else None
        self.version += 1

    def tag(self, estimate: EmotionEstimate) -> int:
        """Give pending committed lines the sentiment of ``estimate``'s text output; how many got one."""
        text = estimate.modality("text")
        if text is None or not text.present or text.sentiment is None or len(text.sentiment) != len(SENTIMENTS):
            return 0
        best = max(range(len(SENTIMENTS)), key=lambda i: text.sentiment[i])
        said = " ".join(estimate.transcript.lower().split())
        tagged = 0
        for line in self.lines:
            if line.sentiment is not None:
                continue
            words = " ".join(line.segment.text.lower().split())
            if (said and words and words in said) or text.t + MATCH_SLACK_S >= line.segment.end:
                line.sentiment, line.confidence = SENTIMENTS[best], float(text.sentiment[best])
                tagged += 1
        if tagged:
            self.version += 1
        return tagged

    def clear(self) -> None:
        self.lines.clear()
        self.partial = None
        self.version += 1
