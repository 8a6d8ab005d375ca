"""The lead score: points per signal an admin weighs, folded from the domain events as they happen, decaying
with a half-life, and always explained.

Each contact's signals are kept per signal (`LeadSignal`: how often, when last, and a decaying `mass`); its
score (`LeadScore`) is the weighted sum, written in a form the clock does not stale (see the model). So:

- an event touches one contact's rows, in the publisher's transaction (lifecycle.subscribers);
- a weight change moves every score that holds the signal by the difference, in one UPDATE ... FROM (a score
  is linear in the weights), never a loop per contact; `lead_scores_recompute` rewrites them all from the
  signals in one INSERT ... SELECT ... GROUP BY (the command's, and the check the tests make);
- sorting and filtering by the score now is SQL over two columns and one decay factor.

A half-life change (LEAD_SCORE_HALF_LIFE_DAYS) changes what the stored masses mean: run
`manage.py lead_scores_rescore`, which folds the signals again from the event stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, ExpressionWrapper, F, FloatField, QuerySet, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from config.errors import ValidationError
from contacts.models import Contact
from conversations.models import Entry, Inbox
from lifecycle.models import ContactStage, LeadScore, LeadScoreWeight, LeadSignal, Stage, Touchpoint

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
POINTS_MIN, POINTS_MAX = -100, 100
FAST_REPLY = timedelta(hours=1)
SILENCE = timedelta(days=30)
WARM, HOT = 20, 50  # the score bands: the list's filters, the panel's colour, the funnel's breakdown

REPLY, FAST, SILENT = "reply", "fast_reply", "silent_30d"
CHANNELS = ("sms", "whatsapp", "voice", "email", "webchat", "api", "manual")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,59}$")
_CAMPAIGN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")

SIGNALS_HELP = (
    f"{REPLY} (each message or call from the customer), {FAST} (answered within an hour of ours), "
    f"{SILENT} (nothing from the customer in 30 days), touchpoint:<type> (pricing_view, demo_booked...), "
    "source_channel:<sms|whatsapp|voice|email|webchat|api>, source_inbox:<inbox id>, "
    "source_campaign:<utm campaign>, stage:<stage key>"
)
DEFAULT_WEIGHTS = {
    "touchpoint:pricing_view": 10,
    "touchpoint:demo_booked": 30,
    REPLY: 5,
    FAST: 5,
    SILENT: -10,
    "stage:qualified": 20,
}


def half_life_days() -> float:
    return float(max(1, int(getattr(settings, "LEAD_SCORE_HALF_LIFE_DAYS", 30))))


def _mass(at: datetime) -> float:
    return float(2.0 ** ((at - EPOCH).total_seconds() / 86400 / half_life_days()))


def decay_factor(now: datetime | None = None) -> float:
    """What a stored mass is multiplied by to read it at `now`."""
    return 1.0 / _mass(now or timezone.now())


# --- the signals and their weights ------------------------------------------------------------------
def signal_validate(signal: str) -> str:
    """The signal's key as stored, or ValidationError with the signals there are."""
    key = str(signal).strip()
    if key in (REPLY, FAST, SILENT):
        return key
    family, _, arg = key.partition(":")
    ok = False
    if family == "touchpoint":
        ok = bool(_SLUG.match(arg))
    elif family == "source_channel":
        ok = arg in CHANNELS
    elif family == "source_inbox":
        ok = arg.isdigit() and Inbox.objects.filter(pk=int(arg)).exists()
    elif family == "source_campaign":
        ok = bool(_CAMPAIGN.match(arg))
    elif family == "stage":
        ok = Stage.objects.filter(key=arg).exists()
    if not ok:
        raise ValidationError(f"No signal {key[:80]!r}: a signal is one of {SIGNALS_HELP}.")
    return key


def points_validate(signal: str, points: Any) -> int:
    try:
        number = int(str(points).strip())
    except ValueError:
        raise ValidationError(
            f"The points for {signal} are a whole number, not {str(points)[:20]!r}."
        ) from None
    if not POINTS_MIN <= number <= POINTS_MAX:
        raise ValidationError(
            f"The points for {signal} must be from {POINTS_MIN} to {POINTS_MAX}; {number} is out of range."
        )
    return number


def lead_score_weights() -> dict[str, int]:
    return dict(LeadScoreWeight.objects.values_list("signal", "points"))


def lead_score_weights_seed() -> None:
    """The default weights, for a hub that has none yet (after migrate, as the stages)."""
    if LeadScoreWeight.objects.exists():
        return
    LeadScoreWeight.objects.bulk_create(
        [LeadScoreWeight(signal=key, points=points) for key, points in DEFAULT_WEIGHTS.items()],
        ignore_conflicts=True,
    )


def lead_score_weights_set(*, weights: Mapping[str, Any], replace: bool = False) -> dict[str, int]:
    """Set the points of these signals (`replace`: and drop every other weight), checked all first, so a bad
    one changes nothing; then every score is recomputed in one statement. Returns the weights now."""
    clean: dict[str, int] = {}
    for signal, points in weights.items():
        key = signal_validate(signal)
        clean[key] = points_validate(key, points)
    with transaction.atomic():
        # The weights row by row under a lock, so two admins saving at once apply their changes in turn.
        before = dict(LeadScoreWeight.objects.select_for_update().values_list("signal", "points"))
        if replace:
            LeadScoreWeight.objects.exclude(signal__in=list(clean)).delete()
        for key, points in clean.items():
            LeadScoreWeight.objects.update_or_create(signal=key, defaults={"points": points})
        after = lead_score_weights()
        changed = {
            key: after.get(key, 0) - before.get(key, 0)
            for key in set(before) | set(after)
            if after.get(key, 0) != before.get(key, 0)
        }
        lead_scores_reweigh(deltas=changed)
    return after


# --- folding the events -----------------------------------------------------------------------------
def lead_signal_add(
    *, contact_id: int, signal: str, at: datetime, decays: bool = True, times: int = 1
) -> None:
    """One more occurrence of `signal` for the contact (the caller recomputes the score)."""
    mass = _mass(at) * times if decays else float(times)
    updated = LeadSignal.objects.filter(contact_id=contact_id, signal=signal).update(
        count=F("count") + times, mass=F("mass") + mass, last_at=Greatest(F("last_at"), Value(at))
    )
    if not updated:
        LeadSignal.objects.create(
            contact_id=contact_id, signal=signal, decays=decays, count=times, mass=mass, last_at=at
        )


def lead_score_on_customer_spoke(*, contact_id: int, conversation_id: int, entry: Entry) -> None:
    at = entry.created_at
    lead_signal_add(contact_id=contact_id, signal=REPLY, at=at)
    before = (
        Entry.objects.filter(
            conversation_id=conversation_id, kind__in=(Entry.MESSAGE, Entry.CALL), created_at__lte=at
        )
        .exclude(pk=entry.pk)
        .order_by("-created_at", "-id")
        .values_list("direction", "created_at")
        .first()
    )
    if before is not None and before[0] == Entry.OUTBOUND and at - before[1] <= FAST_REPLY:
        lead_signal_add(contact_id=contact_id, signal=FAST, at=at)
    _source_ensure(contact_id)
    lead_score_recompute(contact_id=contact_id)


def lead_score_on_touchpoint(*, contact_id: int, touchpoint: Touchpoint) -> None:
    kind = re.sub(r"[^a-z0-9_.-]", "_", touchpoint.type.lower())[:60] or "other"
    lead_signal_add(contact_id=contact_id, signal=f"touchpoint:{kind}", at=touchpoint.occurred_at)
    payload = touchpoint.payload if isinstance(touchpoint.payload, dict) else {}
    campaign = str(payload.get("utm_campaign") or payload.get("campaign") or "")[:60]
    if (
        _CAMPAIGN.match(campaign)
        and not LeadSignal.objects.filter(
            contact_id=contact_id, signal__startswith="source_campaign:"
        ).exists()
    ):
        lead_signal_add(
            contact_id=contact_id,
            signal=f"source_campaign:{campaign}",
            at=touchpoint.occurred_at,
            decays=False,
        )
    _source_ensure(contact_id)
    lead_score_recompute(contact_id=contact_id)


def lead_score_on_stage(*, contact_id: int, stage_key: str, at: datetime) -> None:
    LeadSignal.objects.filter(contact_id=contact_id, signal__startswith="stage:").delete()
    lead_signal_add(contact_id=contact_id, signal=f"stage:{stage_key}", at=at, decays=False)
    lead_score_recompute(contact_id=contact_id)


def _source_ensure(contact_id: int) -> None:
    """Where the lead came from, once: the first channel and inbox the lifecycle recorded."""
    if LeadSignal.objects.filter(contact_id=contact_id, signal__startswith="source_channel:").exists():
        return
    row = ContactStage.objects.filter(contact_id=contact_id).values_list(
        "first_channel", "first_inbox_id", "first_contact_at"
    )
    first = row.first()
    if first is None or not first[0]:
        return
    channel, inbox_id, at = first
    lead_signal_add(contact_id=contact_id, signal=f"source_channel:{channel}", at=at, decays=False)
    if inbox_id is not None:
        lead_signal_add(contact_id=contact_id, signal=f"source_inbox:{inbox_id}", at=at, decays=False)


# --- merge ------------------------------------------------------------------------------------------
_KEPT_BY_SURVIVOR = ("stage:", "source_")


def lead_score_merge(*, source: Contact, into: Contact) -> dict[str, Any]:
    """The merged-away contact's signals join the survivor's, counted once (the source keeps none); where
    it came from and its stage stay the survivor's own. Returns what lead_score_unmerge needs."""
    rows = list(
        LeadSignal.objects.filter(contact=source).values("signal", "decays", "count", "mass", "last_at")
    )
    if not rows:
        return {}
    survivor_has = set(
        LeadSignal.objects.filter(contact=into, signal__startswith="source_").values_list("signal", flat=True)
    )
    given: list[str] = []
    for row in rows:
        signal = row["signal"]
        if signal.startswith("stage:") or (signal.startswith("source_") and survivor_has):
            continue
        given.append(signal)
        updated = LeadSignal.objects.filter(contact=into, signal=signal).update(
            count=F("count") + row["count"],
            mass=F("mass") + row["mass"],
            last_at=Greatest(F("last_at"), Value(row["last_at"])),
        )
        if not updated:
            LeadSignal.objects.create(contact=into, **row)
    LeadSignal.objects.filter(contact=source).delete()
    LeadScore.objects.filter(contact=source).delete()
    lead_score_recompute(contact_id=into.pk)
    return {
        "signals": [{**row, "last_at": row["last_at"].isoformat()} for row in rows],
        "given": given,
    }


def lead_score_unmerge(*, source: Contact, into: Contact, undo: Mapping[str, Any]) -> None:
    """Undo lead_score_merge: the restored contact gets its signals back, and the survivor gives them up."""
    given = set(undo.get("given") or [])
    for row in undo.get("signals") or []:
        at = datetime.fromisoformat(row["last_at"])
        values = {**row, "last_at": at}
        LeadSignal.objects.update_or_create(contact=source, signal=row["signal"], defaults=values)
        if row["signal"] in given:
            LeadSignal.objects.filter(contact=into, signal=row["signal"]).update(
                count=Greatest(F("count") - row["count"], Value(0)), mass=F("mass") - row["mass"]
            )
    LeadSignal.objects.filter(contact=into, count=0).delete()
    for contact in (source, into):
        # stage_unmerge gives each their stage back without a stage.changed: read it from where it is kept.
        _stage_signal_sync(contact.pk)
        lead_score_recompute(contact_id=contact.pk)


def _stage_signal_sync(contact_id: int) -> None:
    row = ContactStage.objects.filter(contact_id=contact_id).values_list("stage__key", "entered_at").first()
    LeadSignal.objects.filter(contact_id=contact_id, signal__startswith="stage:").delete()
    if row is not None and row[0]:
        lead_signal_add(
            contact_id=contact_id, signal=f"stage:{row[0]}", at=row[1] or timezone.now(), decays=False
        )


# --- scores -----------------------------------------------------------------------------------------
def _recompute_sql(where: str) -> str:
    score = connection.ops.quote_name(LeadScore._meta.db_table)
    signal = connection.ops.quote_name(LeadSignal._meta.db_table)
    weight = connection.ops.quote_name(LeadScoreWeight._meta.db_table)
    return (
        f"INSERT INTO {score} (contact_id, mass, fixed, last_heard_at, computed_at) "  # noqa: S608 (our tables)
        "SELECT s.contact_id, "
        "COALESCE(SUM(COALESCE(w.points, 0) * s.mass) FILTER (WHERE s.decays), 0), "
        "COALESCE(SUM(COALESCE(w.points, 0) * s.count) FILTER (WHERE NOT s.decays), 0), "
        "COALESCE(MAX(s.last_at) FILTER (WHERE s.signal = %s), "
        "MIN(s.last_at) FILTER (WHERE s.signal LIKE 'source_channel:%%')), %s "
        f"FROM {signal} s LEFT JOIN {weight} w ON w.signal = s.signal "
        f"{where} GROUP BY s.contact_id "
        "ON CONFLICT (contact_id) DO UPDATE SET mass = EXCLUDED.mass, fixed = EXCLUDED.fixed, "
        "last_heard_at = EXCLUDED.last_heard_at, computed_at = EXCLUDED.computed_at"
    )


def lead_score_recompute(*, contact_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_recompute_sql("WHERE s.contact_id = %s"), [REPLY, timezone.now(), contact_id])
        if cursor.rowcount == 0:
            LeadScore.objects.filter(contact_id=contact_id).delete()


def lead_scores_reweigh(*, deltas: Mapping[str, int]) -> int:
    """Weights changed by `deltas` (signal -> new points - old points): every score holding one of those signals
    moves by exactly that much, in one UPDATE ... FROM over the signal rows concerned. A score is linear in
    the weights, so this is the full recompute's result without reading the signals that did not change.
    Returns how many contacts' scores changed."""
    if not deltas:
        return 0
    score = connection.ops.quote_name(LeadScore._meta.db_table)
    signal = connection.ops.quote_name(LeadSignal._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(deltas))
    params: list[Any] = []
    for key, delta in deltas.items():
        params += [key, delta]
    sql = (
        f"WITH changed (signal, delta) AS (VALUES {values}), "  # noqa: S608 (our tables; values are parameters)
        "moved AS (SELECT s.contact_id, "
        "SUM(CASE WHEN s.decays THEN c.delta * s.mass ELSE 0 END) AS dm, "
        "SUM(CASE WHEN s.decays THEN 0 ELSE c.delta * s.count END) AS df "
        f"FROM {signal} s JOIN changed c ON c.signal = s.signal GROUP BY s.contact_id) "
        f"UPDATE {score} SET mass = mass + moved.dm, fixed = fixed + moved.df, computed_at = %s "
        f"FROM moved WHERE moved.contact_id = {score}.contact_id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One hash of every contact concerned: in memory rather than spilled to disk (this transaction only).
            cursor.execute("SET LOCAL work_mem = '32MB'")
        cursor.execute(sql, [*params, timezone.now()])
        return int(cursor.rowcount)


def lead_scores_recompute() -> int:
    """Every contact's score from its signals and the weights as they are now: one statement, set-based."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_recompute_sql(""), [REPLY, timezone.now()])
        count = cursor.rowcount
        # No sweep for scores left without signals: whatever removes a contact's last signal (a merge, an
        # unmerge) recomputes that contact, which deletes its score.
    return int(count)


def score_expression(*, prefix: str = "contact__lead_score__", now: datetime | None = None) -> Any:
    """The score now as SQL (null for a contact with none), for rows whose `prefix` leads to a LeadScore
    ("contact__lead_score__" from a Conversation, "lead_score__" from a Contact, "" on LeadScore itself)."""
    now = now or timezone.now()
    silent = LeadScoreWeight.objects.filter(signal=SILENT).values_list("points", flat=True).first() or 0
    return ExpressionWrapper(
        F(f"{prefix}mass") * Value(decay_factor(now))
        + F(f"{prefix}fixed")
        + Case(
            When(**{f"{prefix}last_heard_at__lt": now - SILENCE}, then=Value(float(silent))),
            default=Value(0.0),
        ),
        output_field=FloatField(),
    )


def scores_annotate(
    queryset: QuerySet[Any], *, prefix: str = "", now: datetime | None = None
) -> QuerySet[Any]:
    """Annotate `score_now` on a queryset (see score_expression for `prefix`)."""
    annotated: QuerySet[Any] = queryset.annotate(score_now=score_expression(prefix=prefix, now=now))
    return annotated


# --- reading one contact's score --------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    points: int
    text: str

    @property
    def label(self) -> str:
        return f"{self.points:+d} {self.text}"


@dataclass(frozen=True)
class ScoreExplained:
    score: int
    reasons: list[Reason]

    @property
    def band(self) -> str:
        return score_band(self.score)


def score_band(score: float | None) -> str:
    if score is None:
        return "none"
    return "hot" if score >= HOT else "warm" if score >= WARM else "cold"


def _times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def _describe(signal: str, count: int, inboxes: Mapping[int, str], stages: Mapping[str, str]) -> str:
    family, _, arg = signal.partition(":")
    if signal == REPLY:
        return f"replied {_times(count)}"
    if signal == FAST:
        return f"answered within an hour {_times(count)}"
    if family == "touchpoint":
        return f"{arg.replace('_', ' ').replace('-', ' ')} {_times(count)}"
    if family == "source_channel":
        return f"came through {arg}"
    if family == "source_inbox":
        return f"first wrote to {inboxes.get(int(arg), 'inbox ' + arg)}"
    if family == "source_campaign":
        return f"campaign {arg}"
    if family == "stage":
        return f"stage {stages.get(arg, arg)}"
    return signal


def lead_score_explain(*, contact_id: int, now: datetime | None = None) -> ScoreExplained | None:
    """The score now and why, largest reason first; None for a contact with no signal."""
    now = now or timezone.now()
    signals = list(LeadSignal.objects.filter(contact_id=contact_id))
    if not signals:
        return None
    weights = lead_score_weights()
    factor = decay_factor(now)
    inboxes = dict(Inbox.objects.values_list("pk", "name"))
    stages = dict(Stage.objects.values_list("key", "name"))
    reasons: list[Reason] = []
    total = 0.0
    for row in signals:
        weight = weights.get(row.signal, 0)
        value = weight * (row.mass * factor if row.decays else row.count)
        total += value
        if round(value):
            reasons.append(Reason(round(value), _describe(row.signal, row.count, inboxes, stages)))
    heard = [row.last_at for row in signals if row.signal == REPLY] or [
        row.last_at for row in signals if row.signal.startswith("source_channel:")
    ]
    if heard and max(heard) < now - SILENCE and weights.get(SILENT):
        total += weights[SILENT]
        reasons.append(Reason(weights[SILENT], f"no reply in {SILENCE.days} days"))
    reasons.sort(key=lambda reason: (-abs(reason.points), reason.text))  # ties in one order, always
    return ScoreExplained(round(total), reasons)


def lead_scores_of(contact_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, int]:
    """Scores now for many contacts, in one statement (the list's stars)."""
    rows = scores_annotate(LeadScore.objects.filter(contact_id__in=list(contact_ids)), now=now)
    return {row.contact_id: round(row.score_now) for row in rows}


# --- the whole stream again -------------------------------------------------------------------------
def lead_scores_rebuild(*, batch: int = 5000) -> int:
    """Fold every contact's signals again from the domain event stream (after a half-life change, or to
    check): one pass over the events, then every score in one statement."""
    from events.models import DomainEvent

    with transaction.atomic():
        LeadSignal.objects.all().delete()
        LeadScore.objects.all().delete()
        survivor = dict(Contact.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into_id"))

        def live(contact_id: int) -> int:
            seen = set()
            while contact_id in survivor and contact_id not in seen:
                seen.add(contact_id)
                contact_id = survivor[contact_id]
            return contact_id

        events = DomainEvent.objects.filter(
            type__in=("message.received", "call.received", "touchpoint.recorded"), contact_id__isnull=False
        ).order_by("id")
        for event in events.iterator(chunk_size=batch):
            payload = event.payload if isinstance(event.payload, dict) else {}
            contact_id = live(int(event.contact_id or 0))
            if event.type == "touchpoint.recorded":
                touchpoint = Touchpoint.objects.filter(pk=int(payload.get("touchpoint") or 0)).first()
                if touchpoint is not None:
                    lead_score_on_touchpoint(contact_id=contact_id, touchpoint=touchpoint)
            elif not payload.get("automatic") and payload.get("entry"):
                entry = Entry.objects.filter(pk=payload["entry"]).first()
                if entry is not None and event.conversation_id is not None:
                    lead_score_on_customer_spoke(
                        contact_id=contact_id, conversation_id=entry.conversation_id, entry=entry
                    )
        for contact_id, key, at in ContactStage.objects.filter(stage__isnull=False).values_list(
            "contact_id", "stage__key", "entered_at"
        ):
            lead_signal_add(
                contact_id=contact_id, signal=f"stage:{key}", at=at or timezone.now(), decays=False
            )
        return lead_scores_recompute()
