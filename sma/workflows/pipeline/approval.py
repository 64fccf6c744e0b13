"""Approval: step 10 as one helper, from the autonomy policy's verdict to the publish gate.

The policy activity says approve, ask a human, or block. Asking sends the approval notice, reminds once,
and after the expiry parks the run as `expired` (re-openable with `reopen`). A decision counts only for
the round being asked (a late tap on an older round is ignored). `set_autonomy` while waiting asks the
policy again; an approved video waits while a publishing guard blocks it (a timer or `recheck` wakes it).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sma.models.autonomy import ApprovalNotice, PolicyRequest, PolicyVerdict, SetAutonomySignal
    from sma.models.pipeline import Decision, EditScriptSignal, PipelineInput, RunState, Script
    from sma.workflows.pipeline.status import StatusBook
    from sma.workflows.pipeline.steps import POLICY, StepRunner, cause, reraise_cancel

Stage = Literal["approval", "publish"]
Outcome = Literal["decided", "level", "expired", "reopened"]


class Approval:
    def __init__(self, inp: PipelineInput, book: StatusBook, steps: StepRunner) -> None:
        self._inp = inp
        self._book = book
        self._steps = steps
        self.level = inp.autonomy
        self._level_changed = False
        self._recheck = False
        self._reopened = False
        self._decision: Decision | None = None
        self._edited: EditScriptSignal | None = None
        self._script: Script | None = None
        # The current ask: its sequence number (one approval message each) and its timers.
        self._seq = 0
        self._asked_at: datetime | None = None
        self._reminded = False
        self._reminder_s = 0.0
        self._expiry_s = 0.0

    # ------------------------------------------------------------ signals

    def decide(self, decision: Decision) -> bool:
        """Take a person's decision if it is for the round waiting on one; any other is ignored."""
        status = self._book.status
        if status.state != RunState.AWAITING_APPROVAL or decision.round != status.round or self._decision is not None:
            workflow.logger.info("ignoring decision for round %s (current %s, state %s)",
                                 decision.round, status.round, status.state)
            return False
        self._decision = decision
        return True

    def edit(self, sig: EditScriptSignal) -> None:
        """A person's script ends the round like a rejection; the next round is made from it."""
        if not sig.script.beats or not sig.script.narration().strip():
            workflow.logger.info("ignoring an empty edited script from %s", sig.by)
            return
        decision = Decision(round=sig.round, approved=False, by=sig.by, edited=True,
                            feedback=f"script edited by hand by {sig.by}")
        if self.decide(decision):
            self._edited = sig

    def set_level(self, sig: SetAutonomySignal) -> None:
        """A new level for this run; a waiting run asks the policy again (switching down never un-publishes)."""
        workflow.logger.info("autonomy %s -> %s by %s (%s)", self.level, sig.level, sig.by, sig.source)
        self.level = sig.level
        self._book.status.autonomy = sig.level
        self._level_changed = True

    def recheck(self) -> None:
        self._recheck = True

    def reopen(self) -> None:
        if self._book.status.state == RunState.EXPIRED:
            self._reopened = True

    def take_edit(self) -> EditScriptSignal | None:
        """The edited script the last round ended with, once."""
        edited, self._edited = self._edited, None
        return edited

    # ------------------------------------------------------------ step 10

    async def round(self, round_no: int, script: Script) -> Decision:
        """This round's decision; an approval returns only once the publish gate lets it through."""
        self._decision, self._script = None, script
        self._book.running("approval")
        decision = await self._decide_round(round_no)
        if decision.approved:
            decision = await self._publish_gate(round_no, decision)
        self._book.set_state(RunState.RUNNING)
        step = self._book.step("approval")
        step.tier = "auto" if decision.auto else "human"
        step.notes = [f"{_verb(decision)} by {decision.by}", *step.notes[:3]]
        self._book.done("approval")
        self._book.status.decisions.append(decision)
        return decision

    async def _decide_round(self, round_no: int) -> Decision:
        """Ask the policy; when it wants a human, ask one, remind, expire, and re-ask on a level change."""
        phase: Literal["ask", "waiting", "expired"] = "ask"
        while True:
            verdict = await self._policy("approval", auto=False)
            if verdict.verdict == "approve":
                decision = Decision(round=round_no, approved=True, by=f"autonomy:{verdict.level}", auto=True)
                self._book.step("approval").notes = list(verdict.reasons)
                if phase != "ask":  # a level change released a run that was waiting for a person
                    await self._notify_decided(decision)
                return decision
            if phase == "ask":
                await self._ask(round_no, verdict)
                phase = "waiting"
            outcome = await (self._wait_for_human() if phase == "waiting" else self._wait_for_reopen())
            if outcome == "decided":
                assert self._decision is not None
                self._book.set_state(RunState.RUNNING)  # a second decision for this round is now refused
                await self._notify_decided(self._decision)
                return self._decision
            if outcome == "expired":
                phase = "expired"
                self._book.set_state(RunState.EXPIRED)
                await self._book.record()
                await self._steps.notify("expired", f"'{self._book.status.title}' expired without a decision; "
                                         "the video is kept as a draft.", approval=self._notice(round_no, verdict))
            elif outcome == "reopened":
                phase = "ask"
            # "level": ask the policy again with the new level

    async def _ask(self, round_no: int, verdict: PolicyVerdict) -> None:
        self._seq += 1
        self._reopened = self._reminded = False
        self._asked_at = workflow.now()
        self._book.set_state(RunState.AWAITING_APPROVAL)
        step = self._book.step("approval")
        step.tier, step.notes = "human", list(verdict.reasons)
        await self._book.record()
        await self._steps.notify("approval", f"'{self._book.status.title}' is ready for approval (round {round_no}).",
                                 video=self._book.status.artifacts.get("video"),
                                 approval=self._notice(round_no, verdict))

    async def _wait_for_human(self) -> Outcome:
        """'decided', 'level' (the autonomy level changed) or 'expired'; sends the reminder on the way."""
        def ready() -> bool:
            return self._decision is not None or self._level_changed

        while True:
            deadline, is_reminder = self._next_deadline()
            if deadline is None:
                await workflow.wait_condition(ready)
            else:
                remaining = (deadline - workflow.now()).total_seconds()
                if remaining > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await workflow.wait_condition(ready, timeout=remaining)
            if ready():
                return "decided" if self._decision is not None else "level"
            if not is_reminder:
                return "expired"
            self._reminded = True
            status = self._book.status
            await self._steps.notify("reminder", f"Reminder: '{status.title}' is still waiting for your decision "
                                     f"(round {status.round}).", approval=self._notice(status.round, None))

    def _next_deadline(self) -> tuple[datetime | None, bool]:
        """The next timer of the current ask: the reminder (once), then the expiry; (None, False) = none."""
        assert self._asked_at is not None
        expiry = self._asked_at + timedelta(seconds=self._expiry_s) if self._expiry_s > 0 else None
        if not self._reminded and self._reminder_s > 0 and (expiry is None or self._reminder_s < self._expiry_s):
            return self._asked_at + timedelta(seconds=self._reminder_s), True
        return expiry, False

    async def _wait_for_reopen(self) -> Outcome:
        await workflow.wait_condition(lambda: self._reopened or self._level_changed)
        return "reopened" if self._reopened else "level"

    async def _publish_gate(self, round_no: int, decision: Decision) -> Decision:
        """The last check before publishing: the kill switch always; quiet hours and caps for automatic
        approvals. A held run waits for the guard to clear (timer or `recheck`), never fails."""
        held = False
        while True:
            self._recheck = False
            verdict = await self._policy("publish", auto=decision.auto)
            if verdict.verdict == "approve":
                return decision
            if verdict.verdict == "ask":  # the level went down after an automatic approval
                decision = await self._decide_round(round_no)
                if not decision.approved:
                    return decision
                continue
            self._book.set_state(RunState.HELD)
            self._book.step("approval").notes = [f"held: {r}" for r in verdict.reasons]
            await self._book.record()
            if not held:
                held = True
                await self._steps.notify("held", f"'{self._book.status.title}' is approved but held: "
                                         + "; ".join(verdict.reasons), approval=self._notice(round_no, verdict))
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: self._recheck or self._level_changed,
                                              timeout=max(verdict.retry_after_s, 1.0))

    async def _policy(self, stage: Stage, auto: bool) -> PolicyVerdict:
        """Ask the autonomy policy; if it cannot answer, ask a human (approval) or hold (publish)."""
        self._level_changed = False
        status = self._book.status
        req = PolicyRequest(project_id=self._inp.project_id, run_id=status.workflow_id, round=status.round,
                            stage=stage, level=self.level, auto=auto, pinned=self._inp.autonomy_pinned,
                            qa=list(status.qa), title=status.title, summary=self._inp.topic.summary,
                            platforms=list(self._inp.platforms))
        requested = self.level
        try:
            verdict = await self._steps.call(POLICY, req)
        except ActivityError as exc:
            reraise_cancel(exc)
            reason = f"the autonomy policy could not answer: {cause(exc)}"
            workflow.logger.warning(reason)
            if stage == "approval":
                return PolicyVerdict(verdict="ask", level=self.level, reasons=[reason],
                                     reminder_s=self._reminder_s, expiry_s=self._expiry_s)
            return PolicyVerdict(verdict="block", level=self.level, reasons=[reason], retry_after_s=300)
        if verdict.level != requested and not self._level_changed:  # capped or fell back; a newer signal wins
            self.level = verdict.level
            status.autonomy = verdict.level
        self._reminder_s, self._expiry_s = verdict.reminder_s, verdict.expiry_s
        return verdict

    def _notice(self, round_no: int, verdict: PolicyVerdict | None) -> ApprovalNotice:
        status = self._book.status
        return ApprovalNotice(
            round=round_no, seq=self._seq, title=status.title,
            script=self._script.narration() if self._script else "", qa=list(status.qa),
            platforms=list(self._inp.platforms), reasons=list(verdict.reasons) if verdict else [], level=self.level)

    async def _notify_decided(self, decision: Decision) -> None:
        notice = self._notice(decision.round, None)
        notice.approved, notice.by, notice.feedback = decision.approved, decision.by, decision.feedback
        await self._steps.notify(
            "decided", f"'{self._book.status.title}' round {decision.round} {_verb(decision)} by {decision.by}.",
            approval=notice)


def _verb(decision: Decision) -> str:
    return "approved" if decision.approved else "edited" if decision.edited else "rejected"
