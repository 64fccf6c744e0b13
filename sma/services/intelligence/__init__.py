"""The intelligence loop: learn from each post's performance what works, per platform, with honest confidence."""
