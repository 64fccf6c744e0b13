"""Notifications to the creator: the `Notifier` interface and the always-available log channel (notifier)."""
