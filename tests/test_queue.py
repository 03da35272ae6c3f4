from datetime import date

from engine.queue import CardInfo, build_today
from engine.reader import CardState

DAY = date(2026, 11, 29)
CARDS = [
    CardInfo("attention", "Attention", 0.70, 12),
    CardInfo("mha", "MHA", 0.60, 20, ["attention"]),
    CardInfo("rmsnorm", "RMSNorm", 0.35, 8),
    CardInfo("kl", "KL", 0.20, 15),
]


def state(card, due, interval=6, again_on=None, first_day="2026-10-01"):
    return CardState(
        card, 2, interval, 250, due, again_on, "2026-11-01", 0, 2, first_day
    )


def slugs(entries):
    return [e.slug for e in entries]


def test_new_cards_by_frequency_with_prerequisites():
    today = build_today(CARDS, {}, DAY, budget_minutes=120, new_limit=3)
    assert slugs(today.entries) == [
        "attention",
        "rmsnorm",
        "kl",
    ]  # mha waits for attention
    today = build_today(
        CARDS,
        {"attention": state("attention", "2026-12-20")},
        DAY,
        budget_minutes=120,
        new_limit=3,
        passed={"attention"},
    )
    assert slugs(today.entries) == ["mha", "rmsnorm", "kl"]


def test_due_ordered_by_frequency_times_overdueness():
    states = {
        "attention": state("attention", "2026-11-29"),  # due today: 0.70 * 1
        "kl": state(
            "kl", "2026-11-17"
        ),  # 12 days over a 6-day interval: 0.20 * 3 = 0.6
        "rmsnorm": state("rmsnorm", "2026-11-11"),  # 18 days over: 0.35 * 4 = 1.4
    }
    today = build_today(
        CARDS, states, DAY, budget_minutes=120, new_limit=0, passed={"attention"}
    )
    assert slugs(today.entries) == ["rmsnorm", "attention", "kl"]
    assert "18 days overdue" in today.entries[0].reason


def test_budget_and_new_limit():
    states = {
        "rmsnorm": state("rmsnorm", "2026-11-20"),
        "kl": state("kl", "2026-11-28"),
    }
    today = build_today(CARDS, states, DAY, budget_minutes=25, new_limit=1)
    assert slugs(today.entries) == ["rmsnorm", "kl"]
    assert slugs(today.later) == ["attention"]
    today = build_today(CARDS, {}, DAY, budget_minutes=500, new_limit=1)
    assert slugs(today.entries) == ["attention"]


def test_again_today_and_in_progress_first():
    states = {
        "kl": state("kl", "2026-11-30", again_on="2026-11-29", first_day="2026-11-29")
    }
    today = build_today(
        CARDS, states, DAY, budget_minutes=60, new_limit=2, in_progress=["rmsnorm"]
    )
    assert slugs(today.entries)[:2] == ["rmsnorm", "kl"]
    assert today.entries[1].kind == "again"
    assert today.new_today == 2  # kl introduced today, rmsnorm started today
    assert "attention" not in slugs(today.entries)


def test_reviewed_today_uses_the_budget():
    today = build_today(
        CARDS, {}, DAY, budget_minutes=20, new_limit=5, reviewed_today=["mha"]
    )
    assert slugs(today.entries) == []
