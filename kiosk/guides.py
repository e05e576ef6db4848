"""Guides: answers to common questions, searched by keyword on the kiosk, updated over the bus.

The content is a versioned manifest (`GuideManifest`, defined with the bus contract in
taxhall.bus.schemas): the built-in one (guides.json next to this file), replaced by a newer
version published on the retained topic `kiosk/guides` (any kiosk of the hall picks it up, also
after a restart; the bus refuses a malformed one before it gets here) and kept in
`<data_dir>/guides.json` so a kiosk that starts without the broker shows the latest it had. An
older or equal version is ignored, so a stale retained message never rolls content back.

Search is plain keyword matching over both languages and each entry's keywords (which
include pinyin, so the on-screen Latin keyboard finds Chinese entries): title hits weigh
most, then keywords, then the answer; a Chinese word with no hit falls back to its
two-character pieces.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path

from pydantic import ValidationError

from taxhall.bus.schemas import GuideEntry, GuideManifest

log = logging.getLogger("kiosk.guides")

TOPIC = "kiosk/guides"  # its payload, GuideManifest, is in the bus contract (docs/mqtt.md)
BUILTIN = Path(__file__).with_name("guides.json")


def load_manifest(path: Path) -> GuideManifest:
    return GuideManifest.model_validate_json(path.read_bytes())


_SPLIT = re.compile(r"[\s,，。、;；:：/?？!！()（）]+")


def _terms(query: str) -> list[str]:
    return [t for t in _SPLIT.split(query.strip().lower()) if t]


def _hits(term: str, haystack: str) -> int:
    return haystack.count(term) if term else 0


def _score_term(term: str, title: str, keywords: str, answer: str) -> int:
    score = 3 * _hits(term, title) + 2 * _hits(term, keywords) + _hits(term, answer)
    if score or len(term) < 3 or term.isascii():
        return score
    # a longer Chinese word not found whole: its two-character pieces, at lower weight
    pieces = {term[i:i + 2] for i in range(len(term) - 1)}
    return sum(_hits(p, title) + _hits(p, keywords) for p in pieces)


def search(entries: tuple[GuideEntry, ...], query: str) -> list[GuideEntry]:
    """Entries matching every word of `query`, best first; every entry for an empty query."""
    terms = _terms(query)
    if not terms:
        return list(entries)
    scored: list[tuple[int, int, GuideEntry]] = []
    for order, entry in enumerate(entries):
        title = f"{entry.title} {entry.title_en}".lower()
        keywords = " ".join(entry.keywords).lower()
        answer = f"{entry.answer} {entry.answer_en}".lower()
        scores = [_score_term(t, title, keywords, answer) for t in terms]
        if all(scores):
            scored.append((-sum(scores), order, entry))
    return [entry for _, _, entry in sorted(scored, key=lambda s: (s[0], s[1]))]


class GuideBook:
    """The guides a kiosk shows: thread-safe, replaced by newer manifests, cached on disk."""

    def __init__(self, cache: Path | None, start: Path = BUILTIN) -> None:
        self.cache = cache
        self._lock = threading.Lock()
        self._manifest = load_manifest(start)
        if cache is not None and cache.exists():
            try:
                self.offer(load_manifest(cache), persist=False)
            except (OSError, ValidationError, ValueError) as exc:
                log.warning("ignoring the guides cache %s: %s", cache, str(exc).splitlines()[0])

    @property
    def manifest(self) -> GuideManifest:
        with self._lock:
            return self._manifest

    def offer(self, manifest: GuideManifest, persist: bool = True) -> bool:
        """Takes `manifest` if it is newer; True when it did."""
        with self._lock:
            if manifest.version <= self._manifest.version:
                return False
            self._manifest = manifest
        log.info("guides updated to version %d (%d entries)", manifest.version, len(manifest.entries))
        if persist and self.cache is not None:
            self._write(manifest)
        return True

    def _write(self, manifest: GuideManifest) -> None:
        assert self.cache is not None
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(manifest.model_dump(mode="json"), ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.cache)
        except OSError as exc:
            log.warning("could not keep the guides in %s: %s", self.cache, exc)

    def find(self, query: str) -> list[GuideEntry]:
        return search(self.manifest.entries, query)

    def entry(self, entry_id: str) -> GuideEntry | None:
        return next((e for e in self.manifest.entries if e.id == entry_id), None)
