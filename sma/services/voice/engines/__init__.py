"""TTS engines of the voiceover chain, one module per provider, each behind the `TTSEngine` protocol."""
