"""Which classifier model is active, shared through Redis so every worker on every machine agrees.

A trained model is one small artifact file (`.npz`, see `workers.stages.classify.artifact`). To be
readable by workers on other machines without a shared disk, `publish` stores its bytes in Redis
under its version, and `activate` points `{prefix}:classifier:active` at that version. Workers
poll the pointer (one GET every few seconds, see `ClassifierProvider`) and load a new version the
first time they see it, without a restart. Deactivating returns workers to the zero-shot default.

Keys (all under the deployment's `key_prefix`):
  {prefix}:classifier:active              version string of the active model (absent = default)
  {prefix}:classifier:artifact:{version}  the artifact's bytes
"""

from __future__ import annotations

from typing import Protocol

# Artifacts of the linear path are ~1-5 MB (vocabulary + coefficients); a hard cap keeps a
# mistaken upload (e.g. a raw data file) from landing in the broker's Redis.
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024


class KeyValueClient(Protocol):
    """The part of `redis.Redis` the registry uses (so tests and stages need no redis import)."""

    def get(self, name: str) -> bytes | str | None: ...

    def set(self, name: str, value: bytes | str) -> object: ...

    def delete(self, *names: str) -> object: ...


class ModelRegistry:
    """Publish, activate and read classifier artifacts kept in Redis."""

    def __init__(self, client: KeyValueClient, key_prefix: str) -> None:
        self._client = client
        self._prefix = f"{key_prefix}:classifier"

    @property
    def active_key(self) -> str:
        return f"{self._prefix}:active"

    def artifact_key(self, version: str) -> str:
        return f"{self._prefix}:artifact:{version}"

    def publish(self, version: str, data: bytes) -> None:
        """Store an artifact's bytes under its version (idempotent: same version, same bytes)."""
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ValueError(f"artifact of {len(data)} bytes exceeds {MAX_ARTIFACT_BYTES}")
        self._client.set(self.artifact_key(version), data)

    def activate(self, version: str) -> None:
        """Make `version` the model every worker uses from its next poll; it must be published."""
        if self._client.get(self.artifact_key(version)) is None:
            raise KeyError(f"model {version!r} was never published to this registry")
        self._client.set(self.active_key, version)

    def deactivate(self) -> None:
        """Return all workers to the default (zero-shot) classifier."""
        self._client.delete(self.active_key)

    def active_version(self) -> str | None:
        raw = self._client.get(self.active_key)
        return raw.decode() if isinstance(raw, bytes) else raw

    def fetch(self, version: str) -> bytes | None:
        """The artifact bytes of `version`, or None when it is not in the registry."""
        raw = self._client.get(self.artifact_key(version))
        return raw.encode() if isinstance(raw, str) else raw
