"""The mock sessions' reads (`mocks`, `mock_problems`, and their attempts), for drills.mock.
Writes go through the Store's insert/update inside its transactions."""

from __future__ import annotations

import sqlite3

from engine.reader import Reader


def active(db: Reader) -> sqlite3.Row | None:
    """The session in progress (at most one runs at a time)."""
    rows = db._rows(
        "select * from mocks where ended_at is null order by id desc limit 1"
    )
    return rows[0] if rows else None


def session(db: Reader, mock_id: int) -> sqlite3.Row:
    return db._rows("select * from mocks where id = ?", (mock_id,))[0]


def session_ids(db: Reader) -> list[int]:
    return [r["id"] for r in db._rows("select id from mocks order by id")]


def problems(db: Reader, mock_id: int) -> list[sqlite3.Row]:
    """A session's problems, in order, with their attempts' state."""
    return db._rows(
        """select p.*, a.ended_at as a_ended, a.outcome, a.checks, a.best_passed,
                  a.best_total from mock_problems p left join attempts a on a.id = p.attempt_id
           where p.mock_id = ? order by p.pos""",
        (mock_id,),
    )


def graded(db: Reader, mock_id: int, pos: int) -> bool:
    rows = db._rows(
        "select status from mock_problems where mock_id = ? and pos = ?", (mock_id, pos)
    )
    return rows[0]["status"] is not None


def earlier_results(db: Reader, mock_id: int) -> list[sqlite3.Row]:
    """Every graded problem of the sessions that ended before `mock_id`, oldest first."""
    return db._rows(
        """select p.*, m.started_at from mock_problems p join mocks m on m.id = p.mock_id
           where m.id < ? and m.ended_at is not null and p.status is not null
           order by m.id, p.pos""",
        (mock_id,),
    )
