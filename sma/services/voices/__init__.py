"""TTS engines of the voiceover chain (step 4), one module per provider; the chain lives in sma.services.tts."""
