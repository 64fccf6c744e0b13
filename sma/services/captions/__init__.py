"""Captions (step 5): words aligned onto the script (align), ASS karaoke (ass), the font that covers the
script (fonts), timing without a recogniser (timing), and the step itself (service)."""
