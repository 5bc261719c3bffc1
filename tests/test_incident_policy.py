"""The incident policy's decisions, on real run results and rows, with a fixed clock and no
database: confirmation, repeats, resolving, reopening, flapping, reminders and silences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receivers import DEAD_BUTTON, STEPS, journey, make_run

from patrol.causes import Cause, Problem
from patrol.config.incidents import FlappingSettings, IncidentSettings
from patrol.core.vocabulary import IncidentStatus, Outcome, Status
from patrol.incidents.fingerprint import observations
from patrol.incidents.flapping import FlapChange
from patrol.incidents.grouping import AffectedEntry
from patrol.incidents.policy import IncidentPolicy, attempt_groups, count_healthy, healthy_for, outcome, split_run
from patrol.results import RENDER, STALL
from patrol.secrets import MASKER
from patrol.store.console_repo import Silence
from patrol.store.incident_repo import IncidentRow, state_key

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
SLOW_LOGIN = {"login": (STALL, "over_budget", "took 6.20s, over its budget of 3.00s", False)}
BROKEN_IMAGE = {"open transfer": (RENDER, "broken_image", "logo.png did not load", False)}


def policy(**settings) -> IncidentPolicy:
    return IncidentPolicy(IncidentSettings(**settings), clock=lambda: NOW)


def fp(j, group_by: str = "cause") -> str:
    (only,) = observations(j, group_by)
    return only


def entry(journey_name: str = "transfer", steps: tuple[str, ...] = ("confirm transfer",), streak: int = 0) -> AffectedEntry:
    return AffectedEntry(journey=journey_name, target="web", device="desktop", tags=["money"],
                         steps=[{"index": STEPS.index(s) + 1, "key": s, "name": s, "reason": "expect_failed"} for s in steps],
                         first_seen=None, last_seen=None, count=1, healthy_streak=streak, last_run_id=None)


def row(**values) -> IncidentRow:
    base = IncidentRow(id=1, fingerprint="f" * 32, status=IncidentStatus.OPEN, journey="transfer", journey_file=None,
                       tags=["money"], target="web", device="desktop", step_key="login", step_index=1, step_name="login",
                       action="click", kind=STALL, reason="over_budget", severity="warning", message="slow", page_url=None,
                       count=3, healthy_streak=0, opened_at=NOW - timedelta(hours=5), last_seen_at=NOW - timedelta(hours=2),
                       resolved_at=None, resolved_by=None, resolve_note=None, first_run_id="r1", last_run_id="r3",
                       last_notified_at=NOW - timedelta(hours=2), evidence={}, previous_id=None, acknowledged_at=None,
                       acknowledged_by=None, cause=None, affected=None)
    base.update(values)
    return base


def test_outcome_and_attempt_groups_read_the_run_as_the_lifecycle_does():
    first, rerun = journey(fail=DEAD_BUTTON), journey(fail=DEAD_BUTTON, attempt=2)
    other = journey("login", robot="browser_crash")
    run = make_run(rerun, other, first)
    assert [[j.attempt for j in g] for g in attempt_groups(run)] == [[1, 2], [1]]
    assert outcome(first) == Outcome.FAILING and outcome(other) == Outcome.ROBOT_ERROR
    assert outcome(journey()) == Outcome.HEALTHY


def test_a_run_splits_into_the_robots_news_and_the_apps_journeys():
    crashed = journey("login", robot="browser_crash")
    crashed.robot_error = {"reason": "browser_crash", "message": "crashed at https://u:hunter2@bank.test/"}
    MASKER.add("hunter2")
    interrupted = journey("cards")
    interrupted.status = Status.INTERRUPTED
    app = journey("transfer", device="pixel", target="app")
    split = split_run(attempt_groups(make_run(crashed, interrupted, app, journey(fail=DEAD_BUTTON))))
    (failure,) = split.robot_failed["web"]
    assert failure["name"] == "login" and failure["reason"] == "browser_crash" and "hunter2" not in failure["message"]
    assert {t: [j.name for j in js] for t, js in split.robot_ok.items()} == {"app": ["transfer"], "web": ["transfer"]}
    assert [g[-1].device for g in split.app_groups] == ["pixel", "desktop"]  # the interrupted journey says nothing


def test_a_rerun_is_due_while_it_could_still_confirm_the_failure():
    p = policy(confirm=2)
    once = [journey(fail=DEAD_BUTTON)]
    assert p.rerun_could_confirm(once) == {fp(once[0])}
    twice = once + [journey(fail=DEAD_BUTTON, attempt=2)]
    assert p.rerun_could_confirm(twice) == {fp(once[0])}  # 2 reruns asked, 1 done
    assert p.rerun_could_confirm(twice + [journey(fail=DEAD_BUTTON, attempt=3)]) == set()  # reruns spent
    # The rerun showed something else: nothing both attempts showed is left to confirm.
    assert p.rerun_could_confirm(once + [journey(fail=SLOW_LOGIN, attempt=2)]) == set()
    assert p.rerun_could_confirm([journey()]) == set()  # healthy: no rerun
    assert policy(confirm=0).rerun_could_confirm(once) == set()  # confirmation off


def test_triage_opens_only_what_every_attempt_showed_and_repeats_what_is_open():
    p = policy(confirm=1)
    blip = [journey(fail=DEAD_BUTTON), journey(attempt=2)]  # the rerun passed
    confirmed = [journey("pay", fail=SLOW_LOGIN), journey("pay", fail=SLOW_LOGIN, attempt=2)]
    t = p.triage([blip, confirmed], open_fingerprints=set())
    assert t.new == [fp(confirmed[0])] and list(t.seen) == t.new
    assert t.unconfirmed == [("transfer", fp(blip[0]))]
    # Already open: a repeat (seen) even unconfirmed, never new.
    again = p.triage([[journey(fail=DEAD_BUTTON)]], open_fingerprints={fp(blip[0])})
    assert again.new == [] and list(again.seen) == [fp(blip[0])] and again.unconfirmed == []
    # confirm: 0 opens at once.
    assert policy(confirm=0).triage([[journey(fail=DEAD_BUTTON)]], set()).new == [fp(blip[0])]


def test_one_cause_in_two_journeys_is_one_new_incident_seen_in_both():
    slow_api = Cause.of_request("GET", "http://h:1/api/account", Problem.SLOW, resource_type="fetch", ms=8000)
    a, b = journey("transfer", fail=SLOW_LOGIN), journey("pay", fail=SLOW_LOGIN)
    for j in (a, b):
        j.steps[0].findings[0].cause = slow_api
    t = policy(confirm=0, group_by="cause").triage([[a], [b]], set())
    assert len(t.new) == 1 and [ob.journey.name for ob in t.seen[t.new[0]]] == ["transfer", "pay"]
    # Grouped by step, the same findings are one incident per journey.
    assert len(policy(confirm=0, group_by="step").triage([[a], [b]], set()).new) == 2


def test_healthy_runs_count_only_where_the_run_reached_the_incidents_steps():
    passed = journey()
    stopped_before = journey(fail={"login": SLOW_LOGIN["login"][:3] + (True,)})  # fatal at login: later steps skipped
    assert healthy_for(entry(), passed)
    assert not healthy_for(entry(steps=("confirm transfer",)), stopped_before)
    assert healthy_for(entry(steps=("login",)), journey(fail=BROKEN_IMAGE))  # got past login, which was fine
    assert stopped_before.steps[2].status == Status.SKIPPED

    affected = [entry("transfer", streak=1), entry("pay", streak=0)]
    ran = {state_key("transfer", "web", "desktop"): passed}
    assert count_healthy(affected, {}, ran) is True
    assert [e["healthy_streak"] for e in affected] == [2, 0]  # pay did not run: neither counts nor resets
    # Every affected journey must reach resolve_after.
    p = policy(resolve_after=2)
    assert not p.resolves(affected, healthier=True)
    affected[1]["healthy_streak"] = 2
    assert p.resolves(affected, healthier=True)
    assert not p.resolves(affected, healthier=False)  # nothing new this run: no resolution
    # A journey that showed the problem again this run (fresh) is not healthy.
    fresh_only = [entry("transfer", streak=0)]
    assert count_healthy(fresh_only, {state_key("transfer", "web", "desktop"): object()}, ran) is False


def test_a_cause_back_within_group_window_reopens_its_incident():
    p = policy(group_window_s=600)
    assert p.reopen_since("GET /api/x", NOW) == NOW - timedelta(minutes=10)
    assert p.reopens("GET /api/x", NOW - timedelta(minutes=9), NOW)
    assert not p.reopens("GET /api/x", NOW - timedelta(minutes=11), NOW)
    assert p.reopen_since(None, NOW) is None  # a problem of the step itself: always a new incident
    assert policy(group_window_s=0).reopen_since("GET /api/x", NOW) is None


def test_flapping_starts_on_alternating_runs_stays_quiet_and_settles():
    p = policy(flapping=FlappingSettings(window=21, start=20.0, stop=5.0))
    alternating = [Outcome.FAILING, Outcome.HEALTHY] * 5  # newest first
    started = p.flapping(False, alternating)
    assert started.change == FlapChange.STARTED and started.now and started.percent >= 20.0
    still = p.flapping(True, alternating)
    assert still.change is None and still.now
    steady = p.flapping(True, [Outcome.HEALTHY] * 21)
    assert steady.change == FlapChange.STOPPED and not steady.now and steady.percent == 0.0
    assert p.flapping(False, [Outcome.FAILING] * 21).change is None  # failing steadily is not flapping


def test_reminders_are_due_every_remind_every_unless_acknowledged_or_flapping():
    p = policy(remind_every_s=3600)
    assert p.reminder_cutoff(NOW) == NOW - timedelta(hours=1)
    assert p.reminder_due(row(), flapping=False, now=NOW)
    assert not p.reminder_due(row(last_notified_at=NOW - timedelta(minutes=30)), flapping=False, now=NOW)
    assert not p.reminder_due(row(acknowledged_at=NOW - timedelta(hours=1)), flapping=False, now=NOW)
    assert not p.reminder_due(row(), flapping=True, now=NOW)
    assert not p.reminder_due(row(status=IncidentStatus.RESOLVED), flapping=False, now=NOW)
    assert policy().reminder_cutoff(NOW) is None and not policy().reminder_due(row(), flapping=False, now=NOW)


def test_silences_cover_journeys_by_name_or_tag_while_in_force():
    def silence(scope: str, value: str, until: datetime = NOW + timedelta(hours=1), ended: datetime | None = None) -> Silence:
        return Silence(id=1, scope=scope, value=value, until=until, reason=None, created_by="qa",
                       created_at=NOW - timedelta(hours=1), ended_at=ended)

    both = [("transfer", ["money"]), ("login", ["auth"])]
    assert IncidentPolicy.silenced([silence("tag", "money")], both, NOW)  # a robot notice: one covered is enough
    assert not IncidentPolicy.silenced([silence("tag", "money")], both, NOW, every=True)  # an incident still pages for login
    assert IncidentPolicy.silenced([silence("tag", "money"), silence("journey", "login")], both, NOW, every=True)
    assert not IncidentPolicy.silenced([silence("journey", "transfer", until=NOW)], both, NOW)  # over
    assert not IncidentPolicy.silenced([silence("journey", "transfer", ended=NOW)], both, NOW)  # ended by hand
    assert not IncidentPolicy.silenced([silence("journey", "transfer")], [], NOW)


def test_the_policy_reads_its_injected_clock():
    ticks = iter([NOW, NOW + timedelta(seconds=1)])
    p = IncidentPolicy(IncidentSettings(), clock=lambda: next(ticks))
    assert p.now() == NOW and p.now() == NOW + timedelta(seconds=1)
