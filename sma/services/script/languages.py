"""Phrase tables of the offline template writer, one per language it can write natively.

Each table holds the six hook styles, the claim-free top-up sentences for a thin topic, the call to
action and the stop words kept out of hashtags. The sentences say nothing the topic does not: no numbers,
no studies, no hype, so they are honest whatever the topic. A language with no table is written in
English, and the run says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sma.models.language import language_name, primary_language


@dataclass(frozen=True)
class ScriptPhrases:
    language: str
    hooks: dict[str, str]
    """Hook style -> sentence with `{title}`; "statistic" is used only when the topic has no number."""
    filler: tuple[str, ...]
    cta_niche: str
    cta_plain: str
    source_label: str
    stop_words: frozenset[str]
    lower_first: frozenset[str] = frozenset()
    """Title-initial words (articles) written lowercase when the title sits inside a sentence."""
    compact_hooks: dict[str, str] = field(default_factory=dict)
    """Shorter hooks for a tight word budget; the full ones where a style has none."""
    ctas: tuple[str, ...] = ()
    """Calls to action with `{niche}` that a feedback round rotates through; `cta_niche` alone when empty."""
    short_ctas: tuple[str, ...] = ()
    energy_line: str = ""
    """An upbeat opening line for "more energy" (`{mark}` is "!" or "."); none when empty."""

    def cta_choices(self, niche: str, compact: bool) -> tuple[str, ...]:
        """The calls to action a round may pick from, the first being the default."""
        if compact or not niche:
            return self.short_ctas or (self.cta_plain,)
        return tuple(c.format(niche=niche) for c in self.ctas or (self.cta_niche,))

    def cta(self, niche: str) -> str:
        return self.cta_niche.format(niche=niche) if niche else self.cta_plain

    def fill(self, template: str, title: str) -> str:
        """`template` with the title in it; "Las pruebas" becomes "las pruebas" inside a sentence."""
        first, _, rest = title.partition(" ")
        if not template.startswith("{title}") and first in self.lower_first:
            title = f"{first.lower()} {rest}".strip()
        return template.format(title=title)


ENGLISH = ScriptPhrases(
    language="en",
    hooks={
        "question": "Have you seen what is happening with {title}?",
        "bold_claim": "{title} deserves the next minute of your attention.",
        "statistic": "One number explains {title}.",
        "story": "Last week, a small change around {title} caught everyone's eye.",
        "contrarian": "Everyone is talking about {title}, but most miss the point.",
        "how_to": "Here is how to make sense of {title} in under a minute.",
    },
    filler=(
        "This one keeps coming up: {title}.",
        "Here is the short version of why it matters.",
        "The idea is simple, but the details decide whether it helps you.",
        "First, look at what problem it actually solves for you.",
        "Then check what it costs in time, money and attention.",
        "Try it on one small piece of work before you change everything.",
        "Measure what happens, and compare it with how you worked before.",
        "Keep what works, drop what does not, and share what you learn.",
        "That is how small experiments turn into habits that last.",
        "Start with the part that bothers you most today.",
        "Write down what you expect before you try it.",
        "Then look at the result with fresh eyes a week later.",
        "Small steps you can undo are easier to take.",
        "Ask one person who tried it what surprised them.",
        "The goal is not perfection, it is a little progress every week.",
    ),
    compact_hooks={
        "question": "Why does {title} matter?",
        "bold_claim": "{title} matters.",
        "statistic": "One number explains {title}.",
        "story": "It started with {title}.",
        "contrarian": "Most people get {title} wrong.",
        "how_to": "Here is {title}, fast.",
    },
    ctas=("Follow for more on {niche}.", "Follow for more {niche} like this.", "More on {niche} soon, so follow.",
          "Follow if you want the next one on {niche}."),
    short_ctas=("Follow for more.", "Follow for the next one.", "More soon, so follow."),
    energy_line="Let's get into it{mark}",
    cta_niche="Follow for more on {niche}.",
    cta_plain="Follow for more.",
    source_label="Source",
    stop_words=frozenset({"the", "and", "for", "with", "that", "this", "your", "are", "why", "how", "what", "into",
                          "from"}),
)

SPANISH = ScriptPhrases(
    language="es",
    hooks={
        "question": "¿Has visto lo que está pasando con {title}?",
        "bold_claim": "Esto merece el próximo minuto de tu atención: {title}.",
        "statistic": "Un solo número explica {title}.",
        "story": "Hace poco, un pequeño cambio en torno a {title} empezó a llamar la atención.",
        "contrarian": "Todo el mundo habla de {title}, pero casi nadie ve lo importante.",
        "how_to": "Así puedes entender {title} en menos de un minuto.",
    },
    filler=(
        "Este tema no deja de aparecer: {title}.",
        "Esta es la versión corta de por qué importa.",
        "La idea es sencilla, pero los detalles deciden si te sirve.",
        "Primero, mira qué problema resuelve de verdad para ti.",
        "Después, calcula lo que cuesta en tiempo, dinero y atención.",
        "Pruébalo en una tarea pequeña antes de cambiarlo todo.",
        "Mide lo que pasa y compáralo con cómo trabajabas antes.",
        "Quédate con lo que funciona, descarta lo que no y comparte lo que aprendas.",
        "Así es como los pequeños experimentos se convierten en hábitos que duran.",
    ),
    ctas=("Síguenos para más sobre {niche}.", "Síguenos si quieres más de {niche}.",
          "Pronto, más sobre {niche}: síguenos."),
    short_ctas=("Síguenos para más.", "Síguenos para el próximo.", "Pronto habrá más: síguenos."),
    cta_niche="Síguenos para más sobre {niche}.",
    cta_plain="Síguenos para más.",
    source_label="Fuente",
    stop_words=frozenset({"el", "la", "los", "las", "del", "que", "con", "para", "por", "una", "uno", "unos", "unas",
                          "como", "cómo", "qué", "este", "esta", "esto", "más", "sus", "tus", "pero", "sin", "entre"}),
    lower_first=frozenset({"El", "La", "Los", "Las", "Un", "Una", "Unos", "Unas", "Lo"}),
)

PHRASES: dict[str, ScriptPhrases] = {p.language: p for p in (ENGLISH, SPANISH)}


def phrases_for(language: str) -> ScriptPhrases:
    """The table for the language's primary subtag; English when the template has none for it."""
    return PHRASES.get(primary_language(language), ENGLISH)


def template_language_notes(language: str) -> list[str]:
    """What a run should say when the template cannot write the project's language."""
    if primary_language(language) in PHRASES:
        return []
    return [f"the offline template has no {language_name(language)} phrases: wrote in English "
            "(configure an LLM provider to write in the project's language)"]
