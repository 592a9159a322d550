"""The trainer's central type: one training prompt with its decoded media, as every stage sees it.

The data stream (``stream.py``) makes these from prepared rows and cached frames; the rollout, the
update, SFT and the pass-rate filter read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cache_store.types import CachedMedia
from training.prompts import render_prompt


@dataclass
class TrainItem:
    """One prompt as the trainer sees it: sample fields plus its decoded media from the cache."""

    sample_id: str
    problem: str
    problem_type: str
    data_type: str
    answer: str
    options: list[str] = field(default_factory=list)
    media: list[CachedMedia] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def prompt(self, template_path: str | None = None) -> str:
        fields = {
            "problem": self.problem,
            "problem_type": self.problem_type,
            "options": self.options,
            "data_type": self.data_type,
        }
        return render_prompt(fields, template_path or None)
