"""Script writing (step 2): the offline template writer (template), the LLM writer chain (llm), reviewer
feedback as measurable requests (feedback), and the template's phrase tables (languages)."""
