#!/usr/bin/env python3
"""pull.py: download a model from an edgezoo zoo with nothing but Python >= 3.9 (no pip install).

    python3 pull.py MODEL[@VERSION] [--format F] [--precision P] [--index URL] [--out DIR]

Every file is checked against the sha256 the zoo's index.json gives before it gets its final
name; an interrupted download resumes. The model card (README) and manifest (inputs,
preprocessing, output order) are written beside the model. With a public key (--public-key,
EDGEZOO_PUBLIC_KEY, or the one the zoo was published with) the index signature is verified when
the `cryptography` package is importable; without it, pull.py says the signature was not checked.
Published with the zoo by `edgezoo publish`; the same client is in JavaScript as pull.mjs.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Filled in by `edgezoo publish` for the zoo this file comes with.
DEFAULT_INDEX = ""
DEFAULT_PUBLIC_KEY = ""

MAX_INDEX_BYTES = 64 * 1024 * 1024
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PullError(Exception):
    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def is_loopback(host):
    host = (host or "").lower().strip("[]")
    return (
        host == "localhost"
        or host.endswith(".localhost")
        or host == "::1"
        or re.match(r"^127\.\d+\.\d+\.\d+$", host) is not None
    )


def redact(url):
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def where(url):
    return file_path(url) if url.startswith("file:") else redact(url)


def file_path(url):
    return urllib.request.url2pathname(urllib.parse.urlsplit(url).path)


def origin(url):
    parts = urllib.parse.urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port)


def check_fetchable(url):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname)):
        return
    raise PullError(f"refusing {redact(url)}: only https:// (or http:// on this machine) is fetched")


def check_indexed_url(url, index):
    """What a file named by the index may be: see edgezoo's pull for the reasons."""
    if index.startswith("file:"):
        if not url.startswith("file:"):
            check_fetchable(url)
        return
    parts = urllib.parse.urlsplit(url)
    index_on_loopback = is_loopback(urllib.parse.urlsplit(index).hostname)
    allowed = (parts.scheme == "https" and (index_on_loopback or not is_loopback(parts.hostname))) or (
        parts.scheme == "http" and index_on_loopback and is_loopback(parts.hostname)
    )
    if not allowed:
        raise PullError(
            f"the index {where(index)} names {redact(url)}; a remote index may only name https:// URLs on other hosts"
        )


def credentials():
    token = os.environ.get("EDGEZOO_INDEX_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token.strip()}"}
    user = os.environ.get("EDGEZOO_INDEX_USER")
    password = os.environ.get("EDGEZOO_INDEX_PASSWORD")
    if user is not None or password is not None:
        if not user or password is None:
            raise PullError("EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD go together; one of them is not set", 2)
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


class _NoCredentialsElsewhere(urllib.request.HTTPRedirectHandler):
    """Follows redirects (GitHub downloads go to another host) without taking credentials along."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_fetchable(newurl)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(newurl) != origin(req.full_url):
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_NoCredentialsElsewhere)


def index_location(args):
    if args.source is not None:
        match = re.match(r"^github:([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)$", args.source)
        if not match:
            raise PullError(f"--from {args.source} is not github:OWNER/REPO", 2)
        web = args.github_url or os.environ.get("EDGEZOO_GITHUB_URL") or "https://github.com"
        return f"{web.rstrip('/')}/{match[1]}/{match[2]}/releases/download/edgezoo-index/index.json"
    value = args.index or os.environ.get("EDGEZOO_INDEX") or DEFAULT_INDEX
    if not value:
        raise PullError("no zoo to read: give --index URL-of-index.json or --from github:OWNER/REPO", 2)
    if re.match(r"^https?://", value, re.I):
        parts = urllib.parse.urlsplit(value)
        if parts.username or parts.password:
            raise PullError(
                f"the index URL {redact(value)} carries a user name or password; set EDGEZOO_INDEX_TOKEN, "
                "or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD, instead",
                2,
            )
        check_fetchable(value)
        return value
    if value.startswith("file:"):
        return value
    path = os.path.abspath(value)
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    return "file://" + urllib.request.pathname2url(path)


def open_url(url, headers, offset=0, etag=""):
    check_fetchable(url)
    request = urllib.request.Request(url, headers={**headers, "Accept-Encoding": "identity"})
    if offset > 0:
        request.add_header("Range", f"bytes={offset}-")
        if etag:
            # The ETag of the first response guards the resume: another file under the URL starts over.
            request.add_header("If-Range", etag)
    try:
        response = _opener.open(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise PullError(f"{where(url)} does not exist (HTTP 404)") from None
        if error.code == 416:
            return None
        raise PullError(f"HTTP {error.code} for {where(url)}") from None
    check_fetchable(response.geturl())
    return response


def read_document(url, headers, max_bytes, what):
    too_large = PullError(f"{where(url)} is larger than {max_bytes} bytes, the most read for {what}")
    if url.startswith("file:"):
        path = file_path(url)
        if not os.path.exists(path):
            raise PullError(f"{path} does not exist")
        if os.path.getsize(path) > max_bytes:
            raise too_large
        with open(path, "rb") as f:
            return f.read()
    try:
        response = open_url(url, headers)
    except urllib.error.URLError as error:
        raise PullError(f"cannot read {where(url)}: {error.reason}") from None
    with response:
        if int(response.headers.get("Content-Length") or 0) > max_bytes:
            raise too_large
        data = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large
    return data


def verify_signature(data, signature_text, key_text):
    """True/False when checked; None when `cryptography` is not importable."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key
    except ImportError:
        return None
    try:
        if "-----BEGIN" in key_text:
            key = load_pem_public_key(key_text.encode())
        else:
            key = load_der_public_key(base64.b64decode(key_text.strip()))
    except ValueError:
        raise PullError("the public key is not an ed25519 public key (base64 SPKI or PEM)", 2) from None
    if not isinstance(key, Ed25519PublicKey):
        raise PullError("the public key is not an ed25519 public key", 2)
    try:
        key.verify(base64.b64decode(signature_text.strip()), data)
        return True
    except (InvalidSignature, ValueError):
        return False


def parse_version(text):
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$", text)
    if not match:
        return None
    return (int(match[1]), int(match[2]), int(match[3]), match[4] or "")


def version_key(text):
    major, minor, patch, pre = parse_version(text)
    # A release sorts after its prereleases.
    return (major, minor, patch, 1 if pre == "" else 0, pre)


def satisfies(version, wanted):
    """Ranges: exact 1.2.3, prefix 1 / 1.2, ^1.2.3 (or ^1.2, ^1), ~1.2.3 (or ~1.2, ~1), *. Prereleases only when exact."""
    v = parse_version(version)
    if v is None:
        return False
    if wanted in ("*", ""):
        return v[3] == ""
    if parse_version(wanted) is not None:
        return version_key(version) == version_key(wanted)
    if v[3] != "":
        return False
    prefix = re.match(r"^(\d+)(?:\.(\d+))?$", wanted)
    if prefix:
        return v[0] == int(prefix[1]) and (prefix[2] is None or v[1] == int(prefix[2]))
    op = re.match(r"^([~^])(\d+)(?:\.(\d+))?(?:\.(\d+))?$", wanted)
    if not op:
        raise PullError(f'"{wanted}" is not a version or range this client reads (1.2.0, 1, 1.2, ^1.2, ~1.2.0)', 2)
    kind, major = op[1], int(op[2])
    minor = None if op[3] is None else int(op[3])
    patch = None if op[4] is None else int(op[4])
    if v[:3] < (major, minor or 0, patch or 0):
        return False
    if kind == "~":
        return v[0] == major and (minor is None or v[1] == minor)
    if major > 0 or minor is None:
        return v[0] == major
    if minor > 0 or patch is None:
        return v[0] == 0 and v[1] == minor
    return v[:3] == (0, 0, patch)


def resolve(index, name, wanted, fmt, precision):
    model = next((m for m in index.get("models", []) if m.get("name") == name), None)
    if model is None:
        names = ", ".join(m.get("name", "?") for m in index.get("models", []))
        raise PullError(f'no model "{name}" in the index (models: {names})')
    versions = sorted(model["versions"], key=lambda v: version_key(v["version"]), reverse=True)
    exact = wanted is not None and parse_version(wanted) is not None
    version = next(
        (v for v in versions if satisfies(v["version"], wanted or "*") and (exact or not v.get("yanked"))),
        None,
    )
    if version is None:
        listed = ", ".join(v["version"] + (" yanked" if v.get("yanked") else "") for v in versions)
        raise PullError(f'no version of {name} matches "{wanted or "*"}" (versions: {listed})')
    artifacts = [
        a
        for a in version["artifacts"]
        if (fmt is None or a["format"] == fmt) and (precision is None or a["precision"] == precision)
    ]
    if not artifacts:
        available = ", ".join(f"{a['format']}/{a['precision']}" for a in version["artifacts"]) or "none"
        raise PullError(
            f"{name}@{version['version']} has no artifact {fmt or '*'}/{precision or '*'} (available: {available})"
        )
    return model, version, artifacts


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pull_file(item, index_url, headers, out_dir):
    """One file: reused when already there, else downloaded to .partial (resumed), verified, renamed."""
    url = urllib.parse.urljoin(index_url, item["url"])
    destination = os.path.join(out_dir, os.path.basename(item["name"]))
    if os.path.exists(destination) and sha256_of(destination) == item["sha256"]:
        return destination, "out"
    partial = destination + ".partial"
    cap = item.get("size") or MAX_DOCUMENT_BYTES
    send = headers if origin(url) == origin(index_url) else {}
    attempt = 0
    while True:
        attempt += 1
        try:
            if url.startswith("file:"):
                source = file_path(url)
                if not os.path.exists(source):
                    raise PullError(f"{item['name']} is listed in the index but {source} does not exist")
                with open(source, "rb") as src:
                    copy_to(src, partial, 0, cap, url)
            else:
                have = os.path.getsize(partial) if os.path.exists(partial) else 0
                etag = read_text(partial + ".etag") if have > 0 else ""
                response = open_url(url, send, have, etag)
                if response is None:  # 416: the range is past the end; start again
                    os.remove(partial)
                    raise OSError("the server refused the resume range")
                with response:
                    content_range = response.headers.get("Content-Range") or ""
                    resumed = response.status == 206 and content_range.startswith(f"bytes {have}-")
                    tag = response.headers.get("ETag") or ""
                    if not resumed and tag and not tag.startswith("W/"):
                        with open(partial + ".etag", "w") as f:
                            f.write(tag)
                    start = have if resumed else 0
                    length = response.headers.get("Content-Length")
                    total = copy_to(response, partial, start, cap, url)
                    if length is not None and total < start + int(length):
                        # The connection closed early; urllib does not always raise for it.
                        raise OSError(f"the download stopped after {total} of {start + int(length)} bytes")
            actual = sha256_of(partial)
            remove_quietly(partial + ".etag")
            if actual != item["sha256"]:
                os.remove(partial)
                raise PullError(
                    f"{item['name']} from {where(url)} has sha256 {actual}, but the index says "
                    f"{item['sha256']}; nothing was written to {destination}"
                )
            os.replace(partial, destination)
            return destination, "network"
        except PullError:
            raise
        except (OSError, urllib.error.URLError) as error:
            if attempt >= 4:
                raise PullError(f"cannot download {where(url)}: {error}") from None
            # A dropped connection: the .partial keeps what arrived, and the next try resumes it.
            time.sleep(0.2 * 2**attempt)


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def copy_to(stream, partial, start, cap, url):
    total = start
    with open(partial, "ab" if start > 0 else "wb") as out:
        while True:
            block = stream.read(1 << 20)
            if not block:
                break
            total += len(block)
            if total > cap:
                out.close()
                os.remove(partial)
                raise PullError(f"{where(url)} is larger than the {cap} bytes the index gives")
            out.write(block)
    return total


def main(argv):
    parser = argparse.ArgumentParser(
        prog="pull.py",
        description="Download a model from an edgezoo zoo, verified by sha256.",
        epilog="Credentials for the index: EDGEZOO_INDEX_TOKEN, or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD.",
    )
    parser.add_argument("model", help="MODEL or MODEL@VERSION (1.2.0, 1, 1.2, ^1.2, ~1.2.0)")
    parser.add_argument("--format", help="onnx, tflite or openvino (default: all)")
    parser.add_argument("--precision", help="fp32, fp16, dynamic-int8, int8 or int16-act (default: all)")
    parser.add_argument(
        "--index", help="the zoo's index.json: URL, file or folder (default EDGEZOO_INDEX, else the zoo's own)"
    )
    parser.add_argument("--from", dest="source", help="github:OWNER/REPO, a zoo published to GitHub releases")
    parser.add_argument("--github-url", help="GitHub web root for --from (default https://github.com)")
    parser.add_argument("--out", default=".", help="where to write the files (default: the current folder)")
    parser.add_argument("--public-key", help="verify index.json.sig with this ed25519 key (base64 SPKI or PEM)")
    args = parser.parse_args(argv)
    if args.index is not None and args.source is not None:
        raise PullError("give --index or --from, not both", 2)
    name, _, wanted = args.model.partition("@")
    location = index_location(args)
    headers = {} if location.startswith("file:") else credentials()
    data = read_document(location, headers, MAX_INDEX_BYTES, "index.json")
    key_text = args.public_key or os.environ.get("EDGEZOO_PUBLIC_KEY") or DEFAULT_PUBLIC_KEY
    verified = False
    if key_text:
        signature = read_document(urllib.parse.urljoin(location, "index.json.sig"), headers, 4096, "index.json.sig")
        checked = verify_signature(data, signature.decode("ascii", "replace"), key_text)
        if checked is None:
            message = "the index signature is NOT verified: install the `cryptography` package to check it"
            if args.public_key or os.environ.get("EDGEZOO_PUBLIC_KEY"):
                raise PullError(f"{message} (pip install cryptography), or leave out the public key", 2)
            print(f"note: {message} (pip install cryptography)", file=sys.stderr)
        elif not checked:
            raise PullError(
                f"the signature of {where(location)} does not match its bytes under the public key; do not use this index"
            )
        else:
            verified = True
    try:
        index = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise PullError(f"{where(location)} is not valid JSON: {error}") from None
    if not isinstance(index, dict) or index.get("schema") != "edgezoo.index/1":
        raise PullError(f"{where(location)} is not an edgezoo.index/1 index")
    model, version, artifacts = resolve(index, name, wanted or None, args.format, args.precision)
    if version.get("yanked"):
        print(
            f"warning: {model['name']}@{version['version']} is yanked: {version['yanked']['reason']}", file=sys.stderr
        )
    stem = f"{model['name']}-{version['version']}"
    files = [f for a in artifacts for f in a["files"]]
    if version.get("licenseFile"):
        files.append({**version["licenseFile"], "name": f"{stem}-LICENSE.txt"})
    files.append({"name": f"{stem}-manifest.json", **version["manifest"]})
    if version.get("cardSha256"):
        files.append(
            {
                "name": f"{stem}-README.md",
                "url": version["card"],
                "sha256": version["cardSha256"],
                "size": version.get("cardSize"),
            }
        )
    for item in files:
        if not PLAIN_NAME.match(item.get("name", "")) or not SHA256.match(item.get("sha256", "")):
            raise PullError(f"{where(location)} lists a file with a bad name or sha256: {item.get('name')!r}")
        check_indexed_url(urllib.parse.urljoin(location, item["url"]), location)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    for item in files:
        destination, source = pull_file(item, location, headers, out_dir)
        print(f"{destination}  sha256 {item['sha256']}{'  (already there)' if source == 'out' else ''}")
    signed = ", index signature verified" if verified else ""
    print(
        f"pulled {model['name']}@{version['version']}: {len(files)} file(s), sha256 verified{signed}", file=sys.stderr
    )


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except PullError as error:
        print(f"pull.py: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
