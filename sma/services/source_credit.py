"""Credit a topic's sources in the post: every script, from any writer tier, ends its description (and each
platform's) with the topic's links, so a video made from an article always names where its facts came from."""

from __future__ import annotations

from sma.models.pipeline import Script, Topic

MAX_LINKS = 3


def credit_line(url: str) -> str:
    return f"Source: {url}"


def _credited(description: str, urls: list[str]) -> str:
    missing = [credit_line(u) for u in urls if u not in description]
    return "\n".join(p for p in (description.strip(), *missing) if p)


def credit_sources(script: Script, topic: Topic) -> Script:
    """`script` with the topic's first links in its descriptions; unchanged when they are already there."""
    urls = [u for u in topic.source_urls if u.strip()][:MAX_LINKS]
    if not urls:
        return script
    return script.model_copy(update={
        "description": _credited(script.description, urls),
        "platform_descriptions": {p: _credited(d, urls) for p, d in script.platform_descriptions.items()},
    })
