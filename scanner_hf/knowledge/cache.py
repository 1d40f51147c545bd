"""A small on-disk cache for computed knowledge (captions, detected regions, CLIP similarities of a
candidate to the regions): one SQLite file of
``key -> JSON text`` rows, keys made of the provider's settings and the input's content hash."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class KnowledgeCache:
    """``get``/``put`` of text values by key; safe to share between providers in one process."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        self._connection.execute("CREATE TABLE IF NOT EXISTS knowledge (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._connection.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._connection.execute("SELECT value FROM knowledge WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._connection.execute("INSERT OR REPLACE INTO knowledge VALUES (?, ?)", (key, value))
            self._connection.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM knowledge").fetchone()[0]
