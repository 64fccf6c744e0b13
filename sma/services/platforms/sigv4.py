"""AWS Signature Version 4 presigned URLs (query-string auth) for any S3-compatible store.

One function signs both the upload (PUT, UNSIGNED-PAYLOAD) and the time-limited public link Instagram
fetches (GET). Checked against the example in the S3 docs ("Authenticating Requests: Using Query
Parameters"): GET examplebucket/test.txt, 20130524T000000Z, 86400 s -> aeeed9bb...f604d404.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def object_url(endpoint: str, bucket: str, key: str, path_style: bool) -> tuple[str, str, str]:
    """(scheme://host, host, canonical path) of an object, virtual-hosted or path style."""
    parts = urlsplit(endpoint.rstrip("/"))
    quoted = quote(key.lstrip("/"), safe="/~")
    if path_style:
        host = parts.netloc
        path = f"{parts.path}/{bucket}/{quoted}"
    else:
        host = f"{bucket}.{parts.netloc}"
        path = f"{parts.path}/{quoted}"
    return f"{parts.scheme}://{host}", host, path


def presign(method: str, endpoint: str, bucket: str, key: str, region: str, access_key: str, secret_key: str,
            expires_s: int, now: datetime | None = None, path_style: bool = False, service: str = "s3") -> str:
    """A URL that performs `method` on the object for `expires_s` seconds without further credentials."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    stamp, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    origin, host, path = object_url(endpoint, bucket, key, path_style)
    scope = f"{date}/{region}/{service}/aws4_request"
    query = {
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": stamp,
        "X-Amz-Expires": str(expires_s),
        "X-Amz-SignedHeaders": "host",
    }
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical = "\n".join([method, path, canonical_query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(_signing_key(secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{origin}{path}?{canonical_query}&X-Amz-Signature={signature}"
