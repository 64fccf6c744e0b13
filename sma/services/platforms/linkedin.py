"""LinkedIn through the versioned REST API (/rest, `Linkedin-Version` header): Videos API, then Posts API.

Upload: POST /rest/videos?action=initializeUpload {owner, fileSizeBytes} -> video URN (saved), upload token
and one upload URL per part (firstByte..lastByte) -> PUT each part, keeping its ETag -> POST
/rest/videos?action=finalizeUpload {video, uploadToken, uploadedPartIds} -> poll GET /rest/videos/{urn}
until AVAILABLE. Post: POST /rest/posts with content.media.id = the video URN -> 201 and the post URN in
`x-restli-id`. LinkedIn has no idempotency key: `posting` is saved before the post and a retry first looks
for the author's post carrying the video URN (GET /rest/posts?q=author); a 422 "duplicate of urn:li:..."
names the existing post. When the lookup is not allowed (it needs r_member_social), the creator is asked to
check rather than risk a second post. Errors are {"status", "serviceErrorCode", "code", "message"}.
Post analytics need partner-only permissions, so no metrics are collected for LinkedIn.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import quote

import httpx

from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import LinkedInOptions
from sma.services.platforms.errors import ReauthRequired, Rejected, RetryLater, Unauthorized, Uncertain, reauth_hint
from sma.services.platforms.http import Check, json_body, retry_after
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import TokenSource, authorized

RATE_LIMIT_DEFAULT_S = 300.0
LOOKUP_COUNT = 20
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_DUPLICATE = re.compile(r"duplicate of (urn:li:(?:share|ugcPost):[\w-]+)")


def little_text(text: str) -> str:
    """`commentary` in LinkedIn's little-text format: reserved characters escaped, #tags as hashtag templates."""
    parts, pos = [], 0
    for match in _HASHTAG.finditer(text):
        parts.append(_RESERVED.sub(r"\\\1", text[pos:match.start()]))
        parts.append("{hashtag|\\#|" + match.group(1) + "}")
        pos = match.end()
    parts.append(_RESERVED.sub(r"\\\1", text[pos:]))
    return "".join(parts)


class ForbiddenLookup(ReauthRequired):
    """The token may post but not read the author's posts."""


class LinkedIn:
    name = "linkedin"

    def __init__(self, base_url: str, version: str, tokens: TokenSource, author: str, options: LinkedInOptions,
                 poll_interval_s: float = 5.0, poll_timeout_s: float = 600.0) -> None:
        self.base = base_url.rstrip("/")
        self.version = version
        self.tokens = tokens
        self.author = author
        self.options = options
        self.project_id = tokens.creds.project_id
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s

    def check(self, response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        body = json_body(response)
        code, message = str(body.get("code") or ""), str(body.get("message") or "")
        if response.status_code == 401:
            raise Unauthorized(reauth_hint(self.project_id, "linkedin", "LinkedIn rejected the access token"))
        if response.status_code == 429:
            raise RetryLater("LinkedIn rate limit", retry_after(response) or RATE_LIMIT_DEFAULT_S)
        if response.status_code >= 500:
            raise RetryLater(f"LinkedIn answered {response.status_code}", retry_after(response))
        if response.status_code == 403:
            raise ReauthRequired(reauth_hint(self.project_id, "linkedin",
                                             f"LinkedIn says a permission is missing ({message or code})"))
        raise Rejected(f"LinkedIn refused the post ({response.status_code} {code}): {message}".rstrip(": "))

    def _headers(self) -> dict[str, str]:
        return {"Linkedin-Version": self.version, "X-Restli-Protocol-Version": "2.0.0"}

    async def _call(self, method: str, path: str, check: Check | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers(), **(kwargs.pop("headers", None) or {})}
        return await authorized(self.tokens, method, f"{self.base}{path}", check or self.check, headers=headers,
                                **kwargs)

    # ------------------------------------------------------------ publish

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        if ctx.data.get("post_urn"):
            return self._post(str(ctx.data["post_urn"]), ctx)
        video_urn = str(ctx.data.get("video_urn") or "")
        retrying = bool(ctx.data.get("posting"))
        if retrying and video_urn:
            try:
                found = await self._find(video_urn)
            except ForbiddenLookup:
                raise Uncertain("an earlier attempt to post to LinkedIn was interrupted and this token may not "
                                "read the account's posts to check; look at the profile (grant r_member_social "
                                "to let SMA check)") from None
            if found:
                ctx.notes.append("found the post of the earlier attempt")
                return await self._done(found, ctx)
        if not (video_urn and ctx.data.get("uploaded") and await self._available(video_urn, missing_ok=True)):
            video_urn = await self._upload(video, ctx)
        await ctx.save(posting=True)
        response = await self._call("POST", "/rest/posts", self._post_check, json=self._body(draft, video_urn))
        if response.status_code == 422:
            duplicate = _DUPLICATE.search(str(json_body(response).get("message") or ""))
            assert duplicate is not None
            if not retrying:
                raise Rejected(f"LinkedIn refused the post as a duplicate of {duplicate.group(1)}")
            ctx.notes.append("LinkedIn already has this post from the earlier attempt")
            return await self._done(duplicate.group(1), ctx)
        post_urn = response.headers.get("x-restli-id") or str(json_body(response).get("id") or "")
        if not post_urn:
            raise RetryLater("LinkedIn accepted the post without returning its id")
        return await self._done(post_urn, ctx)

    def _post_check(self, response: httpx.Response) -> None:
        """A 422 naming the post this one duplicates is an answer: that post exists already."""
        if response.status_code == 422 and _DUPLICATE.search(str(json_body(response).get("message") or "")):
            return
        self.check(response)

    def _body(self, draft: PostDraft, video_urn: str) -> dict[str, Any]:
        return {"author": self.author, "commentary": little_text(draft.caption),
                "visibility": self.options.visibility,
                "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                                 "thirdPartyDistributionChannels": []},
                "content": {"media": {"title": draft.title, "id": video_urn}},
                "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False}

    async def _upload(self, video: VideoFile, ctx: PublishContext) -> str:
        response = await self._call("POST", "/rest/videos", params={"action": "initializeUpload"},
                                    json={"initializeUploadRequest": {"owner": self.author,
                                                                      "fileSizeBytes": video.size,
                                                                      "uploadCaptions": False,
                                                                      "uploadThumbnail": False}})
        value = json_body(response).get("value") or {}
        video_urn, instructions = str(value.get("video") or ""), value.get("uploadInstructions") or []
        if not video_urn or not instructions:
            raise RetryLater("LinkedIn opened no video upload")
        await ctx.save(video_urn=video_urn, uploaded=False, posting=False)
        etags: list[str] = []
        with video.path.open("rb") as fh:
            for part in instructions:
                first, last = int(part["firstByte"]), int(part["lastByte"])
                fh.seek(first)
                uploaded = await self.tokens.http.request(
                    "PUT", part["uploadUrl"], self.check, content=fh.read(last - first + 1),
                    headers={"Content-Type": "application/octet-stream"})
                etags.append(uploaded.headers.get("etag", ""))
        await self._call("POST", "/rest/videos", params={"action": "finalizeUpload"},
                         json={"finalizeUploadRequest": {"video": video_urn,
                                                         "uploadToken": value.get("uploadToken") or "",
                                                         "uploadedPartIds": etags}})
        await ctx.save(uploaded=True)
        await self._available(video_urn)
        return video_urn

    async def _available(self, video_urn: str, missing_ok: bool = False) -> bool:
        def lookup(response: httpx.Response) -> None:
            if response.status_code == 404 and missing_ok:
                return
            self.check(response)

        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            response = await self._call("GET", f"/rest/videos/{quote(video_urn, safe='')}", lookup)
            if response.status_code == 404:
                return False
            status = json_body(response).get("status")
            if status == "AVAILABLE":
                return True
            if status == "PROCESSING_FAILED":
                if missing_ok:
                    return False
                reason = json_body(response).get("processingFailureReason") or "PROCESSING_FAILED"
                raise Rejected(f"LinkedIn could not process the video: {reason}")
            if time.monotonic() > deadline:
                raise RetryLater("LinkedIn is still processing the video")
            await asyncio.sleep(self.poll_interval_s)

    async def _find(self, video_urn: str) -> str | None:
        def lookup(response: httpx.Response) -> None:
            if response.status_code == 403:
                raise ForbiddenLookup("LinkedIn does not let this token read the author's posts")
            self.check(response)

        response = await self._call("GET", "/rest/posts", lookup,
                                    params={"author": self.author, "q": "author", "count": str(LOOKUP_COUNT),
                                            "sortBy": "LAST_MODIFIED"})
        for post in json_body(response).get("elements") or []:
            if ((post.get("content") or {}).get("media") or {}).get("id") == video_urn:
                return str(post.get("id") or "")
        return None

    async def _done(self, post_urn: str, ctx: PublishContext) -> PostResult:
        await ctx.save(post_urn=post_urn)
        return self._post(post_urn, ctx)

    def _post(self, post_urn: str, ctx: PublishContext) -> PostResult:
        return PostResult(platform=self.name, status="published", external_id=post_urn,
                          url=f"https://www.linkedin.com/feed/update/{post_urn}/", reason="; ".join(ctx.notes))

    async def aclose(self) -> None:
        await self.tokens.http.close()
