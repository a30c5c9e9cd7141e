"""The clean stage's language detection is `workers.stages.language` (shared with classify).

Only `workers/stages/clean/__init__.py` imports this name; once it imports
`workers.stages.language` directly, this module goes.
"""

from __future__ import annotations

from workers.stages.language import detect_language

__all__ = ["detect_language"]
