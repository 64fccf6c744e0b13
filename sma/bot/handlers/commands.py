"""Everyday commands: /start /help /status /queue /new /cancel /trends /schedule /stats."""

from __future__ import annotations

import structlog
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from sma.bot import readmodels
from sma.bot.context import BotDeps, deps, who
from sma.bot.handlers import approvals
from sma.bot.starts import start_run
from sma.client import RunError, RunNotFound
from sma.db import repo
from sma.models.autonomy import ApprovalNotice
from sma.models.pipeline import PipelineStatus, RunState, Topic
from sma.models.topic import TopicError
from sma.services.articles import ArticleError, article_topic, is_link
from sma.services.telegram import store
from sma.services.telegram.notifier import approval_buttons, reopen_button
from sma.services.telegram.texts import approval_text, help_text, start_text, status_detail, status_line
from sma.settings import ProjectSettings

log = structlog.get_logger("sma.bot.commands")
FORCE_WORDS = ("--force", "—force", "-f")  # phones turn "--" into an em dash
FORCE_HINT = "/new --force <topic or link>"


def _chat_id(update: Update) -> int | None:
    return update.effective_chat.id if update.effective_chat else None


async def _reply(update: Update, text: str, **kwargs: object) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(text, **kwargs)  # type: ignore[arg-type]  # reply_text's keywords, passed through


def pick_project(d: BotDeps, chat_id: int | None, args: list[str]) -> tuple[ProjectSettings | None, list[str]]:
    """A leading '#project' argument names the project; else the chat's (first) project."""
    projects = d.projects_for_chat(chat_id)
    if args and args[0].startswith("#"):
        wanted = args[0][1:]
        for project in d.settings.projects:
            if project.id == wanted:
                return project, args[1:]
        return None, args
    return projects[0], args


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(update, start_text(deps(context).project_ids(_chat_id(update))))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(update, help_text())


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    if context.args:
        await _reply(update, await _one_status(d, context.args[0]))
        return
    rows = []
    for project_id in d.project_ids(_chat_id(update)):
        rows += await repo.list_runs(d.database, project_id, limit=8)
    rows.sort(key=lambda r: r.updated_at, reverse=True)
    if not rows:
        await _reply(update, "No runs yet. Start one with /new <topic>.")
        return
    lines = [status_line(PipelineStatus.model_validate_json(r.status_json)) if r.status_json not in ("", "{}")
             else f"[{r.state}] {r.title}\n  {r.id}" for r in rows[:8]]
    await _reply(update, "Recent runs:\n" + "\n".join(lines))


async def _one_status(d: BotDeps, run_id: str) -> str:
    """Live (with retrying steps) while a worker answers, else what the run last recorded."""
    try:
        return status_detail((await d.runs.status(run_id)).status)
    except RunNotFound:
        return f"I know no run {run_id}."


async def queue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs waiting for a decision (with buttons) and expired ones (with Re-open)."""
    d = deps(context)
    chat_id = _chat_id(update)
    waiting = []
    for project_id in d.project_ids(chat_id):
        for state in (RunState.AWAITING_APPROVAL, RunState.EXPIRED):
            waiting += await repo.list_runs(d.database, project_id, state=state.value, limit=10)
    if not waiting:
        await _reply(update, "Nothing is waiting for you.")
        return
    await _reply(update, f"{len(waiting)} run(s) need you:")
    for run in waiting[:10]:
        await _queue_entry(update, d, run.id, run.project_id, run.round, run.state, run.title, run.status_json)


async def _queue_entry(update: Update, d: BotDeps, run_id: str, project_id: str, round_no: int, state: str,
                       title: str, status_json: str) -> None:
    row = await store.latest_approval(d.database, run_id, round_no)
    expired = state == RunState.EXPIRED.value
    wanted = "expired" if expired else "sent"
    if row is None or row.state != wanted:
        row, _ = await store.approval_row(d.database, project_id, run_id, round_no, 0, title)
        assert row.id is not None
        await store.update_approval(d.database, row.id, state=wanted)
    assert row.id is not None
    status = PipelineStatus.model_validate_json(status_json) if status_json not in ("", "{}") else None
    text = row.text or approval_text(ApprovalNotice(round=round_no, title=title, qa=status.qa if status else [],
                                                    level=status.autonomy if status else ""), project_id)
    markup = reopen_button(d.codec, row.id, round_no) if expired else approval_buttons(d.codec, row.id, round_no)
    label = "⌛ expired, kept as a draft" if expired else "⏳ waiting for you"
    assert update.effective_message is not None
    sent = await update.effective_message.reply_text(f"{label}\n{run_id}\n\n{text}", reply_markup=markup)
    if row.message_id is None:  # a row made here: this message is the one to edit when decided
        await store.mark_sent(d.database, row.id, sent.chat_id, sent.message_id, text)
        if expired:
            await store.update_approval(d.database, row.id, state="expired")


async def new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    project, words = pick_project(d, _chat_id(update), list(context.args or []))
    if project is None:
        await _reply(update, f"No such project. Projects: {', '.join(p.id for p in d.settings.projects)}")
        return
    force = bool(words) and words[0] in FORCE_WORDS
    words = words[1:] if force else words
    if words and is_link(words[0]):  # /new <link> [title]
        await new_from_link(update, d, project, words[0], " ".join(words[1:]), force)
        return
    title = " ".join(words).strip()
    if not title:
        await _reply(update, "What about? Use /new <topic>, e.g. /new Why small tests catch big bugs")
        return
    try:
        topic = Topic.checked(title)
    except TopicError as exc:
        await _reply(update, f"Nothing was started: {exc}.")
        return
    started, level = await start_run(d, project, topic, [], force=force)
    if started.existing:
        await _reply(update, f"{started.note_for(FORCE_HINT)}.\n{started.workflow_id}")
        return
    await _reply(update, f"Started '{topic.title}' in project {project.id} (autonomy {level}).\n"
                         f"{started.workflow_id}")


async def on_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message that is only a link starts a run from that article, unless it answers an open Reject
    question: then it is the reason, as any other text would be."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not message.text:
        return
    d = deps(context)
    if await store.get_prompt(d.database, message.chat.id, user.id) is not None:
        await approvals.on_reason(update, context)
        return
    project, _ = pick_project(d, _chat_id(update), [])
    if project is not None:
        await new_from_link(update, d, project, message.text.strip(), "", force=False)


async def new_from_link(update: Update, d: BotDeps, project: ProjectSettings, url: str, title: str,
                        force: bool) -> None:
    """Fetch the article now (a bad link is answered at once, and the run's input carries the article)."""
    try:
        _, topic = await article_topic(d.settings.articles, url, title)
    except (ArticleError, TopicError) as exc:
        await _reply(update, f"Nothing was started: {exc}.")
        return
    started, level = await start_run(d, project, topic, [], force=force)
    if started.existing:
        await _reply(update, f"{started.note_for(FORCE_HINT)}.\n{started.workflow_id}")
        return
    await _reply(update, f"Started '{topic.title}' from the article in project {project.id} (autonomy {level}).\n"
                         f"{started.workflow_id}")


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    if not context.args:
        await _reply(update, "Which run? Use /cancel <run id> (see /status).")
        return
    run_id = context.args[0]
    try:
        await d.runs.cancel(run_id, by=who(update.effective_user))
    except RunError as exc:  # unknown, finished, or Temporal did not answer: the message says which
        await _reply(update, str(exc))
        return
    await _reply(update, f"Cancelling {run_id}. Nothing from it will be published.")


async def retry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Retry a failed run from its failed step (the finished steps are kept)."""
    d = deps(context)
    if not context.args:
        await _reply(update, "Which run? Use /retry <run id> (see /status).")
        return
    run_id = context.args[0]
    try:
        started = await d.runs.retry(run_id, by=who(update.effective_user))
    except RunError as exc:  # unknown, not failed, or Temporal did not answer: the message says which
        await _reply(update, str(exc))
        return
    await _reply(update, f"Retrying {run_id} from {started.step}; the steps that finished are kept.")


async def trends(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    top = await readmodels.top_trends(d.database, d.project_ids(_chat_id(update)))
    if not top:
        await _reply(update, "No scored trends yet: trend scanning has not produced any topics for this project. "
                             "Start a video yourself with /new <topic>.")
        return
    lines = [f"{i}. {title} (score {score:.2f})" for i, (_, title, score) in enumerate(top, 1)]
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton(f"▶ {i}. {title[:40]}",
                                                          callback_data=d.codec.encode("t", trend_id, 0))]
                                    for i, (trend_id, title, _) in enumerate(top, 1)])
    await _reply(update, "Top topics (tap one to produce it):\n" + "\n".join(lines), reply_markup=buttons)


async def schedule(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    slots = await readmodels.next_slots(d.database, d.project_ids(_chat_id(update)))
    if not slots:
        await _reply(update, "No publishing schedule yet: nothing is planned for this project.")
        return
    await _reply(update, "Next slots:\n" + "\n".join(f"{when}: {what}" for when, what in slots))


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    ids = d.project_ids(_chat_id(update))
    posts = await readmodels.posts_last_days(d.database, ids)
    metrics = await readmodels.metrics_last_days(d.database, ids)
    if not posts:
        await _reply(update, "Nothing was posted in the last 7 days, so there are no stats yet.")
        return
    lines = ["Last 7 days:"]
    for platform, counts in sorted(posts.items()):
        line = f"{platform}: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        if metrics and platform in metrics:
            views, likes = metrics[platform]
            line += f"; {views} views, {likes} likes"
        lines.append(line)
    if not metrics:
        lines.append("Views and likes are not collected yet.")
    await _reply(update, "\n".join(lines))
