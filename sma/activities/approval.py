"""Step 10's question to the autonomy policy: approve, ask a human, or block (queue sma-workflows)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from sma.models.autonomy import PolicyRequest, PolicyVerdict

if TYPE_CHECKING:
    from sma.services.autonomy.service import AutonomyService


class ApprovalActivities:
    def __init__(self, service: AutonomyService) -> None:
        self.service = service

    @activity.defn(name="approval_policy")
    async def approval_policy(self, req: PolicyRequest) -> PolicyVerdict:
        return await self.service.decide(req)
