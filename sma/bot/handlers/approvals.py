"""Approve / Reject / Skip / Re-open buttons and the free-text reason after Reject.

Order of checks for every tap: signature (refused without any lookup), the approval row (must exist, be
this round, and still be open), the run itself (open, waiting, on this round), then one conditional
UPDATE claims the decision, and only then is the workflow signalled. A second tap, a tap on a finished
run or on a round the run left behind gets an answer saying so and changes nothing.
"""

from __future__ import annotations

import contextlib

import structlog
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from sma.bot.context import BotDeps, deps, who
from sma.bot.starts import produce_trend
from sma.client import NotDecidable, RunNotFound, Unavailable
from sma.db.tables_autonomy import ApprovalMessage
from sma.services.telegram import store
from sma.services.telegram.callbacks import Callback, InvalidCallback
from sma.services.telegram.texts import decision_footer, stamp, with_footer

log = structlog.get_logger("sma.bot.approvals")
UNREACHABLE = "I could not reach the engine; nothing changed. Please try again in a moment."


def state_answer(row: ApprovalMessage) -> str:
    if row.state == "answered":
        return f"Already {row.decision or 'decided'} by {row.decided_by} at {stamp(row.decided_at)}."
    if row.state == "expired":
        return "This approval expired. Tap Re-open (or use /queue) to bring it back."
    if row.state == "stale":
        return "This button is no longer current: the run moved on or a newer message was sent."
    return "This approval is not ready yet."


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    d = deps(context)
    try:
        cb = d.codec.decode(query.data)
    except InvalidCallback as exc:
        log.warning("refused callback", user_id=query.from_user.id, reason=str(exc), data=repr(query.data)[:90])
        await query.answer("This button is not valid.", show_alert=True)
        return
    if cb.action == "produce":
        await query.answer(await produce_trend(d, cb.ref))
        return
    row = await store.get_approval(d.database, cb.ref)
    if row is None or row.round != cb.round or row.id is None:
        log.warning("refused callback", user_id=query.from_user.id, reason="no such approval", ref=cb.ref)
        await query.answer("This button is not valid any more.", show_alert=True)
        return
    if cb.action == "approve":
        await _approve(update, context, d, row)
    elif cb.action == "reopen":
        await _reopen(update, d, row)
    elif cb.action == "reject":
        await _ask_reason(update, context, d, row)
    else:
        await _skip(update, context, d, row, cb)


async def _usable(d: BotDeps, row: ApprovalMessage) -> str | None:
    """None when the ask can still be decided; else what to tell the person (the row is retired)."""
    if row.state != "sent":
        return state_answer(row)
    try:
        await d.runs.check_decidable(row.run_id, row.round)
    except (NotDecidable, RunNotFound) as exc:
        assert row.id is not None
        await store.set_state(d.database, row.id, "stale", only_from=("sent",))
        return str(exc)
    except Unavailable:
        return UNREACHABLE
    return None


async def _approve(update: Update, context: ContextTypes.DEFAULT_TYPE, d: BotDeps, row: ApprovalMessage) -> None:
    query = update.callback_query
    assert query is not None and row.id is not None
    problem = await _usable(d, row)
    if problem:
        await query.answer(problem, show_alert=True)
        return
    by = who(query.from_user)
    if not await store.claim(d.database, row.id, "approved", by):
        fresh = await store.get_approval(d.database, row.id)
        await query.answer(state_answer(fresh or row), show_alert=True)
        return
    try:
        await d.runs.approve(row.run_id, row.round, by=by)
    except (NotDecidable, RunNotFound, Unavailable) as exc:  # the run moved on since the check, or went away
        log.warning("approve not delivered", run=row.run_id, error=str(exc))
        await store.unclaim(d.database, row.id)
        await query.answer(UNREACHABLE if isinstance(exc, Unavailable) else str(exc), show_alert=True)
        return
    log.info("approved", run=row.run_id, round=row.round, by=by)
    await query.answer("Approved ✅")
    await close_prompts_and_show(context, row, approved=True, by=by, via=query.message)


async def _ask_reason(update: Update, context: ContextTypes.DEFAULT_TYPE, d: BotDeps, row: ApprovalMessage) -> None:
    query = update.callback_query
    assert query is not None and row.id is not None and query.message is not None
    problem = await _usable(d, row)
    if problem:
        await query.answer(problem, show_alert=True)
        return
    skip = InlineKeyboardMarkup([[InlineKeyboardButton("Skip the reason",
                                                       callback_data=d.codec.encode("s", row.id, row.round))]])
    reply = ReplyParameters(message_id=query.message.message_id, allow_sending_without_reply=True)
    asked = await context.bot.send_message(
        query.message.chat.id, f"Why reject '{row.title}' (round {row.round})? Reply with what to change, "
        "or tap Skip.", reply_markup=skip, reply_parameters=reply)
    await store.open_prompt(d.database, row.project_id, row.id, query.message.chat.id, query.from_user.id,
                            asked.message_id)
    await query.answer("Tell me what to change.")


async def _skip(update: Update, context: ContextTypes.DEFAULT_TYPE, d: BotDeps, row: ApprovalMessage,
                cb: Callback) -> None:
    query = update.callback_query
    assert query is not None
    answer = await reject_with(context, d, row, "", query.from_user)
    await query.answer(answer, show_alert=not answer.startswith("Rejected"))
    if query.message is not None:
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)


async def on_reason(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text message from someone with an open Reject question in this chat is the reason."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return
    d = deps(context)
    prompt = await store.get_prompt(d.database, message.chat.id, user.id)
    if prompt is None:
        if message.chat.type == "private":  # in a group, people talk among themselves
            await message.reply_text("I did not understand that. /help lists what I can do.")
        return
    row = await store.get_approval(d.database, prompt.approval_id)
    if row is None:
        await store.close_prompts(d.database, prompt.approval_id)
        return
    await message.reply_text(await reject_with(context, d, row, message.text.strip(), user))


async def reject_with(context: ContextTypes.DEFAULT_TYPE, d: BotDeps, row: ApprovalMessage, feedback: str,
                      user: object) -> str:
    """Claim the ask as rejected and signal the workflow; returns what to tell the person."""
    assert row.id is not None
    problem = await _usable(d, row)
    if problem:
        await store.close_prompts(d.database, row.id)
        return problem
    by = who(user)
    if not await store.claim(d.database, row.id, "rejected", by):
        fresh = await store.get_approval(d.database, row.id)
        return state_answer(fresh or row)
    try:
        await d.runs.reject(row.run_id, feedback, row.round, by=by)
    except (NotDecidable, RunNotFound, Unavailable) as exc:  # the run moved on since the check, or went away
        log.warning("reject not delivered", run=row.run_id, error=str(exc))
        await store.unclaim(d.database, row.id)
        return UNREACHABLE if isinstance(exc, Unavailable) else str(exc)
    log.info("rejected", run=row.run_id, round=row.round, by=by, with_reason=bool(feedback))
    await close_prompts_and_show(context, row, approved=False, by=by, feedback=feedback)
    return ("Rejected. The script will be rewritten with your feedback." if feedback
            else "Rejected without a reason. A new version is on its way.")


async def close_prompts_and_show(context: ContextTypes.DEFAULT_TYPE, row: ApprovalMessage, approved: bool, by: str,
                                 feedback: str = "", via: object = None) -> None:
    """Edit the approval message to show who decided and when (buttons removed)."""
    d = deps(context)
    assert row.id is not None
    await store.close_prompts(d.database, row.id)
    text = with_footer(row.text, decision_footer(approved, by, feedback=feedback))
    targets = [(row.chat_id, row.message_id)]
    message = via
    if message is not None and (getattr(message, "chat_id", None), getattr(message, "message_id", None)) != targets[0]:
        targets.append((message.chat_id, message.message_id))  # type: ignore[attr-defined]  # a Message, checked by getattr above
    for chat_id, message_id in targets:
        if chat_id is None or message_id is None:
            continue
        try:
            await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except BadRequest as exc:
            log.info("could not edit approval message", error=str(exc))


async def _reopen(update: Update, d: BotDeps, row: ApprovalMessage) -> None:
    query = update.callback_query
    assert query is not None and row.id is not None
    if row.state != "expired":
        await query.answer(state_answer(row) if row.state != "sent" else "This approval is still open.",
                           show_alert=True)
        return
    try:
        await d.runs.reopen(row.run_id, by=who(query.from_user))
    except (NotDecidable, RunNotFound) as exc:
        await store.set_state(d.database, row.id, "stale", only_from=("expired",))
        await query.answer(str(exc), show_alert=True)
        return
    except Unavailable:
        await query.answer(UNREACHABLE, show_alert=True)
        return
    await store.set_state(d.database, row.id, "stale", only_from=("expired",))
    await query.answer("Re-opened: a fresh approval message is on its way.")
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)
