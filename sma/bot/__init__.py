"""Telegram bot: approvals, commands and progress from the phone."""
