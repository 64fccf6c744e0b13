"""Speech recognition: faster-whisper transcription with word timestamps (whisper) and the models it loads
(models). Both the voiceover's QA_TTS and the captions step hear audio through it."""
