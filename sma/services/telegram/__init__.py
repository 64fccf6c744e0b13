"""Telegram as a notification channel: the notifier the workers send through, the message texts, the signed
button payloads and the rows that remember each sent message. The interactive bot (`sma.bot`) builds on it."""
