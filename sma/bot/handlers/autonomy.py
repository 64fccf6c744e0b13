"""/autonomy, /pause, /resume and /limits: the levels and guards of autonomous publishing."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from sma.bot.context import BotDeps, deps, who
from sma.models.autonomy import LEVELS
from sma.services.telegram.texts import stamp

NO_CAP = ("off", "none", "-", "0")  # /limits: every way to say "no cap"


def _chat_id(update: Update) -> int | None:
    return update.effective_chat.id if update.effective_chat else None


async def _reply(update: Update, text: str) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(text)


def _targets(d: BotDeps, update: Update, args: list[str]) -> tuple[list[str], list[str], str]:
    """(project ids, remaining args, error): a trailing known project id picks one project."""
    known = {p.id for p in d.settings.projects}
    if args and args[-1].lstrip("#") in known:
        return [args[-1].lstrip("#")], args[:-1], ""
    return d.project_ids(_chat_id(update)), args, ""


async def autonomy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    raw = list(context.args or [])
    if len(raw) == 2 and raw[0].lstrip("#") in {p.id for p in d.settings.projects} and raw[1].lower() in LEVELS:
        raw.reverse()  # /autonomy <project> <level>, the order of `sma autonomy PROJECT LEVEL`
    projects, args, _ = _targets(d, update, raw)
    if not args:
        await _reply(update, await _describe(d, projects))
        return
    level = args[0].lower()
    if level not in LEVELS:
        await _reply(update, "Use /autonomy manual|assisted|autonomous [project] (or /autonomy <project> <level>).")
        return
    if len(projects) > 1:
        await _reply(update, f"Which project? Add its id: /autonomy {level} <project> ({', '.join(projects)})")
        return
    by = who(update.effective_user)
    change = await d.runs.set_level(projects[0], level, by=by, source="bot", service=d.service)
    note = f" {change.signalled} open run(s) were told." if change.signalled else ""
    if level == "autonomous":
        note += " Waiting runs that the policy approves go on now."
    await _reply(update, f"Autonomy of {projects[0]}: {change.previous} → {level}.{note}")


async def _describe(d: BotDeps, projects: list[str]) -> str:
    lines = []
    for project_id in projects:
        view = await d.service.overview(project_id)
        paused = f"; publishing PAUSED by {view.paused_by}" if view.paused else ""
        lines.append(f"{project_id}: {view.level} (configured {view.configured}){paused}")
        for event in await d.service.history(project_id, limit=3):
            lines.append(f"  {stamp(event.at)} {event.kind}: {event.old} → {event.new} by {event.by} "
                         f"via {event.source}" + (f" ({event.reason})" if event.reason else ""))
    lines.append("Set with /autonomy manual|assisted|autonomous [project].")
    return "\n".join(lines)


async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    projects, args, _ = _targets(d, update, list(context.args or []))
    changed = await d.service.pause(projects, who(update.effective_user), "bot", " ".join(args))
    already = [p for p in projects if p not in changed]
    text = f"Publishing paused for {', '.join(changed)}." if changed else "Publishing was already paused."
    if changed and already:
        text += f" (already paused: {', '.join(already)})"
    await _reply(update, text + " Nothing will be published until /resume; approvals still work.")


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    projects, _, _ = _targets(d, update, list(context.args or []))
    by = who(update.effective_user)
    changed = await d.service.resume(projects, by, "bot")
    told = await d.runs.recheck(changed, by=by, reason="resumed")
    if not changed:
        await _reply(update, "Publishing was not paused.")
        return
    await _reply(update, f"Publishing resumed for {', '.join(changed)}; {told} open run(s) re-checked.")


async def limits(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/limits shows caps; /limits daily N, /limits <platform> N, /limits reset change them (0 or off: no cap)."""
    d = deps(context)
    projects, args, _ = _targets(d, update, list(context.args or []))
    if not args:
        await _reply(update, await _describe_limits(d, projects))
        return
    if len(projects) > 1:
        await _reply(update, f"Which project? Add its id at the end ({', '.join(projects)}).")
        return
    project_id, by = projects[0], who(update.effective_user)
    try:
        if args[0] == "reset":
            await d.service.set_limits(project_id, by, "bot", reset=True)
        elif len(args) == 2 and args[0] == "daily":
            await d.service.set_limits(project_id, by, "bot", daily_cap=0 if args[1] in NO_CAP else int(args[1]))
        elif len(args) == 2:
            cap = None if args[1] in NO_CAP else int(args[1])
            await d.service.set_limits(project_id, by, "bot", platform_caps={args[0]: cap})
        else:
            raise ValueError("usage")
    except ValueError as exc:
        hint = "" if str(exc) == "usage" or "invalid literal" in str(exc) else f" ({exc})"
        await _reply(update, f"Use /limits daily N, /limits <platform> N|off, or /limits reset{hint}.")
        return
    await d.runs.recheck([project_id], by=by, reason="limits changed")
    await _reply(update, await _describe_limits(d, [project_id]))


async def _describe_limits(d: BotDeps, projects: list[str]) -> str:
    lines = []
    for project_id in projects:
        view = await d.service.overview(project_id)
        caps = view.limits
        today = (f"{view.published_today} of {caps.daily_cap} videos today" if caps.daily_cap
                 else f"{view.published_today} videos today, no daily cap")
        lines.append(f"{project_id} ({view.day}): {today}" + (" (set here)" if caps.daily_override else ""))
        for platform, cap in sorted(caps.platform_caps.items()):
            lines.append(f"  {platform}: {view.per_platform_today.get(platform, 0)} of {cap}")
    lines.append("A cap of 0 (or off) means no cap.")
    return "\n".join(lines)

