"""Media hosts: a static file server (public_dir), an S3-compatible store with presigned URLs, Cloudinary."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from tests.platform_fakes.server import FakeServer, Request, Response


class StaticFiles(FakeServer):
    """Serves a folder, like the web server in front of `publishing.media_host.public_dir`."""

    name = "static"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.route("GET", r"/media/(.+)", self._get)

    def _get(self, req: Request) -> Response:
        path = self.folder / req.path.removeprefix("/media/")
        if not path.is_file():
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        return Response(200, path.read_bytes(), {"Content-Type": "video/mp4"})


class FakeS3(FakeServer):
    """Path-style S3: presigned PUT and GET, checked by the same SigV4 rules (expiry, scope, signature)."""

    name = "s3"

    def __init__(self, access_key: str = "AKIDEXAMPLE", secret_key: str = "s3-secret-key", region: str = "us-east-1"):
        super().__init__()
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.objects: dict[str, bytes] = {}
        self.route("PUT", r"/([^/]+)/(.+)", self._put)
        self.route("GET", r"/([^/]+)/(.+)", self._get)

    def _verify(self, req: Request) -> Response | None:
        from sma.services.platforms.sigv4 import presign

        q = req.query
        stamp = datetime.strptime(q.get("X-Amz-Date", "19700101T000000Z"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if time.time() > stamp.timestamp() + int(q.get("X-Amz-Expires", "0")):
            return Response(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        bucket, _, key = req.path.lstrip("/").partition("/")
        expected = presign(req.method, self.url, bucket, _unquote(key), self.region, self.access_key,
                           self.secret_key, int(q["X-Amz-Expires"]), now=stamp, path_style=True)
        if not q.get("X-Amz-Credential", "").startswith(self.access_key + "/") or \
                expected.rsplit("X-Amz-Signature=", 1)[1] != q.get("X-Amz-Signature"):
            return Response(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>",
                            {"Content-Type": "application/xml"})
        return None

    def _put(self, req: Request) -> Response:
        if denied := self._verify(req):
            return denied
        self.objects[req.path] = req.body
        return Response(200, b"", {"ETag": f'"{hashlib.md5(req.body).hexdigest()}"'})

    def _get(self, req: Request) -> Response:
        if denied := self._verify(req):
            return denied
        if req.path not in self.objects:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
        return Response(200, self.objects[req.path], {"Content-Type": "video/mp4"})


def _unquote(key: str) -> str:
    from urllib.parse import unquote

    return unquote(key)


class FakeCloudinary(FakeServer):
    """The signed Upload API: verifies the SHA-1 signature as Cloudinary documents it, then serves the file."""

    name = "cloudinary"
    EXCLUDED = {"file", "api_key", "resource_type", "cloud_name", "signature"}

    def __init__(self, cloud: str = "demo", api_key: str = "123456789", api_secret: str = "cloudinary-secret"):
        super().__init__()
        self.cloud, self.api_key, self.api_secret = cloud, api_key, api_secret
        self.assets: dict[str, bytes] = {}
        self.route("POST", rf"/v1_1/{cloud}/video/upload", self._upload)
        self.route("GET", rf"/res/{cloud}/video/upload/(.+)", self._get)

    def _upload(self, req: Request) -> Response:
        form, files = req.form(), req.files()
        signed = "&".join(f"{k}={v}" for k, v in sorted(form.items()) if k not in self.EXCLUDED and v != "")
        if form.get("api_key") != self.api_key or \
                hashlib.sha1((signed + self.api_secret).encode()).hexdigest() != form.get("signature"):
            return Response(401, {"error": {"message": "Invalid Signature"}})
        public_id = f"{form['folder']}/{form['public_id']}" if form.get("folder") else form["public_id"]
        self.assets[public_id] = files["file"]
        secure = f"{self.url}/res/{self.cloud}/video/upload/v1/{quote(public_id)}.mp4"
        return Response(200, {"public_id": public_id, "resource_type": "video", "format": "mp4",
                              "bytes": len(files["file"]), "secure_url": secure, "url": secure})

    def _get(self, req: Request) -> Response:
        name = req.path.split("/video/upload/v1/", 1)[1].removesuffix(".mp4")
        data = self.assets.get(name)
        return Response(200, data, {"Content-Type": "video/mp4"}) if data else Response(404, b"")
