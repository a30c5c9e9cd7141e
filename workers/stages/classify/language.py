"""The classify stage's language detection is `workers.stages.language` (shared with clean).

Only `workers/commands/classify.py` and `benchmarks/classify.py` import these names from here;
once they import `workers.stages.language` directly, this module goes.
"""

from __future__ import annotations

from workers.stages.language import detect_language, detect_languages, known_language

__all__ = ["detect_language", "detect_languages", "known_language"]
