"""Answers in each API's real wire format (field names, nesting, string-typed counts, RSS namespaces).

Topics overlap across sources on purpose ("Rust 2.0 released"), so deduplication has something to merge.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reddit_listing(subreddit: str, now: float) -> dict[str, Any]:
    posts = [
        ("1a2b3c", "Rust 2.0 released with async traits", 4210, 3.0, 812),
        ("1a2b3d", "Why we moved our CI from Jenkins to GitHub Actions", 950, 9.0, 233),
        ("1a2b3e", "SQLite is faster than you think for web apps", 1830, 5.0, 410),
        ("1a2b3f", "Weekly off-topic thread", 12, 40.0, 88),
    ]
    children = [{"kind": "t3", "data": {
        "id": pid, "name": f"t3_{pid}", "title": title, "subreddit": subreddit, "score": score, "ups": score,
        "upvote_ratio": 0.95, "num_comments": comments, "created_utc": now - hours * 3600.0,
        "permalink": f"/r/{subreddit}/comments/{pid}/slug/", "url": f"https://example.com/{pid}",
        "selftext": "", "stickied": title.startswith("Weekly"), "over_18": False, "is_self": False,
    }} for pid, title, score, hours, comments in posts]
    return {"kind": "Listing", "data": {"after": "t3_1a2b3f", "dist": len(children), "modhash": "",
                                        "geo_filter": None, "children": children, "before": None}}


def hn_search(now: float) -> dict[str, Any]:
    stories = [
        ("41000001", "Rust 2.0 Released", "https://blog.rust-lang.org/2.0", 1290, 2.0, 540),
        ("41000002", "Show HN: A tiny SQLite-backed job queue", "https://github.com/x/q", 310, 6.0, 75),
        ("41000003", "The hidden cost of microservices", "https://example.org/micro", 120, 20.0, 98),
    ]
    hits = [{
        "objectID": oid, "title": title, "url": url, "author": "someone", "points": points,
        "num_comments": comments, "story_id": int(oid), "created_at": _iso(now - hours * 3600),
        "created_at_i": int(now - hours * 3600), "updated_at": _iso(now),
        "_tags": ["story", f"story_{oid}", "front_page"],
        "children": [],
    } for oid, title, url, points, hours, comments in stories]
    return {"hits": hits, "nbHits": len(hits), "page": 0, "nbPages": 1, "hitsPerPage": 30,
            "exhaustiveNbHits": True, "exhaustiveTypo": True, "query": "", "params": "tags=front_page",
            "processingTimeMS": 1}


def google_trends_rss(geo: str, now: float) -> str:
    trends = [("rust 2.0", "500,000+", 4.0, "Rust 2.0 is out", "https://news.example.com/rust"),
              ("champions league", "2M+", 2.0, "Matchday recap", "https://sport.example.com/cl"),
              ("sqlite", "20K+", 8.0, "SQLite turns 25", "https://news.example.com/sqlite")]
    items = "".join(f"""
<item>
  <title>{title}</title>
  <ht:approx_traffic>{traffic}</ht:approx_traffic>
  <description>{title}, related</description>
  <link>https://trends.google.com/trending/rss?geo={geo}</link>
  <pubDate>{format_datetime(datetime.fromtimestamp(now - hours * 3600, UTC), usegmt=True)}</pubDate>
  <ht:picture>https://example.com/p.jpg</ht:picture>
  <ht:picture_source>Example</ht:picture_source>
  <ht:news_item>
    <ht:news_item_title>{headline}</ht:news_item_title>
    <ht:news_item_snippet>{headline}</ht:news_item_snippet>
    <ht:news_item_url>{url}</ht:news_item_url>
    <ht:news_item_picture>https://example.com/n.jpg</ht:news_item_picture>
    <ht:news_item_source>Example News</ht:news_item_source>
  </ht:news_item>
</item>""" for title, traffic, hours, headline, url in trends)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:atom="http://www.w3.org/2005/Atom" xmlns:ht="https://trends.google.com/trending/rss" version="2.0">
<channel>
  <title>Daily Search Trends</title>
  <description>Recent searches</description>
  <link>https://trends.google.com/trending/rss?geo={geo}</link>
  <atom:link href="https://trends.google.com/trending/rss?geo={geo}" rel="self" type="application/rss+xml"/>{items}
</channel>
</rss>"""


def github_search(now: float) -> dict[str, Any]:
    repos = [
        (9001, "tinyorg/sqlite-queue", "A tiny SQLite-backed job queue", 2400, 3.0, ["sqlite", "queue"]),
        (9002, "rustacean/async-traits-demo", "Examples for Rust 2.0 async traits", 880, 2.0, ["rust"]),
        (9003, "someone/dotfiles", None, 15, 10.0, []),
    ]
    items = [{
        "id": rid, "node_id": f"R_{rid}", "name": full.split("/")[1], "full_name": full, "private": False,
        "owner": {"login": full.split("/")[0], "id": rid + 1, "type": "User"},
        "html_url": f"https://github.com/{full}", "description": desc, "fork": False,
        "url": f"https://api.github.com/repos/{full}", "created_at": _iso(now - days * 86400),
        "updated_at": _iso(now), "pushed_at": _iso(now), "stargazers_count": stars, "watchers_count": stars,
        "forks_count": stars // 20, "language": "Rust", "topics": topics, "score": 1.0, "open_issues_count": 3,
        "default_branch": "main", "visibility": "public",
    } for rid, full, desc, stars, days, topics in repos]
    return {"total_count": len(items), "incomplete_results": False, "items": items}


def youtube_search(now: float) -> dict[str, Any]:
    return {"kind": "youtube#searchListResponse", "etag": "e1", "nextPageToken": "CAUQAA", "regionCode": "US",
            "pageInfo": {"totalResults": 2, "resultsPerPage": 2},
            "items": [{"kind": "youtube#searchResult", "etag": f"s{i}", "id": {"kind": "youtube#video", "videoId": vid},
                       "snippet": {"publishedAt": _iso(now - 5 * 3600), "channelId": "UC1", "title": "x",
                                   "description": "", "channelTitle": "c", "liveBroadcastContent": "none"}}
                      for i, vid in enumerate(["vidRust20", "vidSqlite"])]}


def youtube_videos(now: float, ids: list[str] | None) -> dict[str, Any]:
    catalogue = {
        "vidRust20": ("Rust 2.0 released: async traits explained", "1250000", 5.0),
        "vidSqlite": ("SQLite in production: 5 lessons", "98000", 30.0),
        "vidCats": ("Funny cats compilation 2026", "5400000", 12.0),
    }
    chosen = ids if ids is not None else list(catalogue)
    items = [{
        "kind": "youtube#video", "etag": f"v{vid}", "id": vid,
        "snippet": {"publishedAt": _iso(now - hours * 3600), "channelId": "UC1", "title": title,
                    "description": f"{title} description", "channelTitle": "Channel", "tags": ["dev"],
                    "categoryId": "28", "liveBroadcastContent": "none"},
        "statistics": {"viewCount": views, "likeCount": "1000", "favoriteCount": "0", "commentCount": "120"},
    } for vid in chosen if vid in catalogue for title, views, hours in [catalogue[vid]]]
    return {"kind": "youtube#videoListResponse", "etag": "e2", "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)}}


def youtube_error(code: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}],
                      "status": "PERMISSION_DENIED" if code == 403 else "INVALID_ARGUMENT"}}


def rss_feed(now: float) -> str:
    """An RSS 2.0 blog feed with `slash:comments`, HTML in descriptions and one untitled entry."""
    entries = [
        ("Rust 2.0 released", "https://blog.example.com/rust-2", 1.0, 42,
         "<p>The <b>Rust 2.0</b> release adds async traits &amp; a new edition.</p>"),
        ("Profiling SQLite queries in production", "https://blog.example.com/sqlite-profiling", 8.0, 3,
         "How we found a 40 ms query."),
        ("", "https://blog.example.com/untitled", 2.0, 0, "no title"),
    ]
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{format_datetime(datetime.fromtimestamp(now - hours * 3600, UTC))}</pubDate>"
        f"<slash:comments>{comments}</slash:comments><category>rust</category>"
        f"<description><![CDATA[{summary}]]></description></item>"
        for title, link, hours, comments, summary in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:slash="http://purl.org/rss/1.0/modules/slash/"><channel><title>Example Engineering Blog</title>'
            f'<link>https://blog.example.com</link><description>Posts</description>{items}</channel></rss>')


def atom_feed(now: float) -> str:
    """An Atom 1.0 feed."""
    entries = [("urn:uuid:1", "A tiny job queue on SQLite", "https://news.example.org/queue", 3.0),
               ("urn:uuid:2", "Why microservices cost more than you think", "https://news.example.org/micro", 30.0)]
    body = "".join(
        f'<entry><id>{eid}</id><title>{title}</title><link href="{link}"/>'
        f"<updated>{_iso(now - hours * 3600)}</updated><summary>{title}.</summary></entry>"
        for eid, title, link, hours in entries)
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Example News</title><id>urn:example</id><updated>{_iso(now)}</updated>{body}</feed>")
