"""drill's memory: cards' metadata, SM-2, the SQLite store, the daily queue. No torch here."""
