"""The QA gates: QA_SCRIPT (script), QA_TTS (audio), QA_CAPTIONS (captions), QA_RENDER and QA_VISUAL
(video), and the text normalisation that word error rate compares through (normalize, normalize_i18n)."""
