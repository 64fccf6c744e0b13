"""Voiceover (step 4): the TTS chain and its QA_TTS gate (service), what each synthesis cost (usage), one
module per engine (engines/)."""
