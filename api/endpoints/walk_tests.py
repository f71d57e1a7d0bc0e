"""Walk tests (SPEC §8.1): start, list, one with each device's first alarm, end early."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_ERRORS, Principal, Reader, require
from api.endpoints import API_PREFIX, OFFSET_MAX
from api.endpoints.disablements import ERRORS, ItemId, Ops
from api.op_schemas import EndIn, TestDetail, TestDevice, TestIn, TestOut, operation_out
from api.sites import item_visible, may_target, sees

router = APIRouter(prefix=API_PREFIX, tags=["operations"])
Tester = Annotated[Principal, Depends(require(frozenset({"security", "admin"})))]


def _detail(ops: Ops, principal: Principal, test_id: int) -> TestDetail:
    record, report = ops.test(test_id)
    item_visible(principal, "test", test_id, record.site)
    devices = [TestDevice(**d) for d in report]
    out = operation_out(TestOut, record, ops.now())
    return TestDetail(**out.model_dump(), devices=devices,
                      untested=[d.device_id for d in devices if d.first_alarm_at is None])


@router.post("/tests", response_model=TestDetail, status_code=201, responses=ERRORS)
def create(ops: Ops, principal: Tester, body: TestIn) -> TestDetail:
    """Put a target in walk test (≤ 24 h): its alarms open test alerts only."""
    may_target(principal, body.target.site, "target.site")
    record = ops.start_test(body.target.model_dump(), until=body.until, note=body.note,
                            actor=principal.name)
    return _detail(ops, principal, record.id)


@router.get("/tests", response_model=list[TestOut], responses=AUTH_ERRORS)
def listed(ops: Ops, principal: Reader, active: bool = Query(False, description="only in progress"),
           limit: int = Query(100, ge=1, le=500),
           offset: int = Query(0, ge=0, le=OFFSET_MAX)) -> list[TestOut]:
    """Walk tests, newest first."""
    now = ops.now()
    return [operation_out(TestOut, t, now)
            for t in ops.tests(active=active, limit=limit, offset=offset) if sees(principal, t)]


@router.get("/tests/{test_id}", response_model=TestDetail, responses=ERRORS)
def one(ops: Ops, principal: Reader, test_id: ItemId) -> TestDetail:
    """One walk test: each device of the target and when it first alarmed."""
    return _detail(ops, principal, test_id)


@router.post("/tests/{test_id}/end", response_model=TestDetail, responses=ERRORS)
def end(ops: Ops, principal: Tester, test_id: ItemId, body: EndIn | None = None) -> TestDetail:
    """End the test now: its alerts resolve (code `test`)."""
    item_visible(principal, "test", test_id, ops.test(test_id)[0].site)
    ops.end_test(test_id, actor=principal.name)
    return _detail(ops, principal, test_id)
