"""The day's plan (engine.plan) and its candidates (engine.queue): pure, no database."""

from collections import Counter
from datetime import date

from engine.plan import Item, additions, later, lines, next_card
from engine.queue import CardInfo, candidates
from engine.schedule import CardState

DAY = date(2026, 11, 29)
CARDS = {
    c.slug: c
    for c in [
        CardInfo("attention", "Attention", 0.70, 12),
        CardInfo("mha", "MHA", 0.60, 20, ("attention",)),
        CardInfo("rmsnorm", "RMSNorm", 0.35, 8),
        CardInfo("kl", "KL", 0.20, 15, (), True),
    ]
}


def state(
    card, due, interval=6, again_on=None, first_day="2026-10-01", last="2026-11-01"
):
    return CardState(card, 2, interval, 250, due, again_on, last, 0, 2, first_day, 1)


def found(states=None, passed=frozenset()):
    """engine.queue.candidates for DAY: (due, new, waiting)."""
    return candidates(list(CARDS.values()), states or {}, DAY, set(passed))


def plan(stored=(), states=None, budget=120, new=3, passed=frozenset()):
    return additions(
        list(stored),
        CARDS,
        states or {},
        DAY,
        found(states, passed),
        budget_minutes=budget,
        new_limit=new,
    )


def cards(items):
    return [i.card for i in items]


def test_new_cards_by_frequency_with_prerequisites_and_estimates_marked():
    fresh = plan()
    assert cards(fresh) == ["attention", "rmsnorm", "kl"]  # mha waits for attention
    assert [i.pos for i in fresh] == [1, 2, 3]
    assert "est. ~20%" in fresh[2].reason and "est." not in fresh[0].reason
    assert found()[2] == {"mha": ["attention"]}
    states = {"attention": state("attention", "2026-12-20")}
    assert cards(plan(states=states, passed={"attention"})) == ["mha", "rmsnorm", "kl"]


def test_due_ordered_by_frequency_times_overdueness():
    states = {
        "attention": state("attention", "2026-11-29"),  # due today: 0.70 * 1
        "kl": state("kl", "2026-11-17"),  # 12 days over a 6-day interval: 0.20 * 3
        "rmsnorm": state("rmsnorm", "2026-11-11"),  # 18 days over: 0.35 * 4 = 1.4
    }
    fresh = plan(states=states, new=0, passed={"attention"})
    assert cards(fresh) == ["rmsnorm", "attention", "kl"]
    assert "18 days overdue" in fresh[0].reason


def test_budget_and_new_limit():
    states = {
        "rmsnorm": state("rmsnorm", "2026-11-20"),
        "kl": state("kl", "2026-11-28"),
    }
    fresh = plan(states=states, budget=25, new=1)
    assert cards(fresh) == ["rmsnorm", "kl"]
    assert [e.slug for e in later(found(states), fresh)] == ["attention"]
    assert cards(plan(budget=500, new=1)) == ["attention"]


def test_the_plan_holds_and_only_repeats_unlocks_and_asked_for_minutes_join():
    morning = plan(budget=20, new=1)
    assert cards(morning) == ["attention"]
    # attention is failed today: its one repeat joins at the end; nothing else moves
    failed = {
        "attention": state(
            "attention", "2026-11-30", 1, "2026-11-29", "2026-11-29", "2026-11-29"
        )
    }
    joined = plan(morning, failed, budget=20, new=1)
    assert [(i.card, i.kind, i.pos) for i in joined] == [("attention", "again", 2)]
    assert plan(morning + joined, failed, budget=20, new=1) == []  # joins once
    # attention passed today: mha is unlocked, and joins if the new-card limit allows
    passed = {
        "attention": state(
            "attention", "2026-11-30", 1, None, "2026-11-29", "2026-11-29"
        )
    }
    assert plan(morning, passed, budget=60, new=1, passed={"attention"}) == []
    unlocked = plan(morning, passed, budget=60, new=2, passed={"attention"})
    assert [(i.card, i.kind) for i in unlocked] == [("mha", "unlocked")]
    assert "unlocked today" in unlocked[0].reason
    # a bigger budget asked for adds what now fits, after the plan
    more = plan(morning, {}, budget=60, new=3)
    assert cards(more) == ["rmsnorm", "kl"] and [i.pos for i in more] == [2, 3]


def test_statuses_follow_reviews_and_open_attempts():
    items = [
        Item(1, "attention", "new", 12, ""),
        Item(2, "rmsnorm", "new", 8, ""),
        Item(3, "attention", "again", 12, ""),
    ]
    shown = lines(items, CARDS, Counter(attention=1), {"attention"})
    assert [s.status for s in shown] == ["done", "", "in progress"]
    assert next_card(shown) == "rmsnorm"
    shown = lines(items, CARDS, Counter(attention=2, rmsnorm=1), set())
    assert next_card(shown) is None


def test_a_card_reviewed_today_is_not_due_again_today():
    states = {"kl": state("kl", "2026-11-29", last="2026-11-29")}
    assert cards(plan(states=states, new=0)) == []


def test_a_repeat_not_done_by_the_rollover_is_dropped_and_the_card_is_simply_due():
    yesterday = "2026-11-28"
    states = {"kl": state("kl", "2026-11-29", 1, yesterday, last=yesterday)}
    fresh = plan(states=states, new=0)
    assert [(i.card, i.kind) for i in fresh] == [("kl", "due")]
