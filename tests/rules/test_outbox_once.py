"""A signal in the shared outbox is applied once, however many instances drain it (SPEC §11).

Around a site handover the previous owner and the new one may both read the same pending row;
the second apply finds the row already marked and its whole transaction rolls back.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from devices.registry import load_registry
from rules.db.outbox import AlreadyApplied, KeyedSignal, SqlSignalOutbox
from rules.engine.loader import load_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService

T0 = 1_800_000_000.0


def test_the_second_apply_of_one_row_rolls_back(engine: sa.Engine) -> None:
    pack, registry = load_rules(), load_registry()
    outbox = SqlSignalOutbox(engine)
    fire = Signal("detector_alarm", "fire", "hq", "sd-01", T0, "reception", "smoke_detector")
    outbox.commit({}, [KeyedSignal("k1", "life_safety", fire),
                       KeyedSignal("k2", "life_safety", Signal(
                           "detector_alarm", "fire", "other", "sd-9@other", T0, None, None))])
    assert [r.signal.site for r in outbox.pending(10, sites={"hq"})] == ["hq"]
    row = outbox.pending(10, sites={"hq"})[0]
    # Two instances' incident services over one database, both holding the same row.
    first, second = IncidentService(engine, pack, registry=registry), IncidentService(
        engine, pack, registry=registry)
    first.apply(row.signal, also=lambda conn: outbox.mark_applied(conn, row.id))
    with pytest.raises(AlreadyApplied):
        second.apply(row.signal, also=lambda conn: outbox.mark_applied(conn, row.id))
    alert, = first.list(kind="alert", device_id="sd-01", limit=10)[0]
    assert alert.occurrences == 1  # the rolled-back apply did not bump it
    assert outbox.pending(10, sites={"hq"}) == []
    assert len(outbox.pending(10)) == 1  # the other site's row waits for its owner
