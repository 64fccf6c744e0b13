"""The `sma tts usage` command module; the voiceover chain, its engines and usage live in the voice package."""
