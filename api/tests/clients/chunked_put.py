"""A PUT sent with `Transfer-Encoding: chunked` and no Content-Length, as AWS SDKs send
uploads of unknown size: SigV4 signing written out here (no SDK to hide what goes on the
wire), sent over a raw socket so every header and chunk is exactly as written.

    chunked_put.py HOST:PORT BUCKET KEY FILE MODE ACCESS_KEY SECRET [QUERY]

QUERY (`partNumber=2&uploadId=…`) makes it an UploadPart.

MODE:
  streaming  signed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, the body aws-chunked with a
             signature per chunk, x-amz-decoded-content-length the file's true length
  lying      the same, but x-amz-decoded-content-length says one byte less than is sent
  claiming   the same, but x-amz-decoded-content-length says one byte more than is sent
  unsigned   x-amz-content-sha256: UNSIGNED-PAYLOAD, plain chunked, no length at all

Prints the status code on the first line, then the answer's body.
"""

import datetime
import hashlib
import hmac
import socket
import sys
import urllib.parse

REGION = "us-east-1"
SERVICE = "s3"
# Small chunks, so that one upload is several aws-chunks and several HTTP chunks.
CHUNK = 64 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret, day):
    key = hmac_sha256(("AWS4" + secret).encode(), day)
    for part in (REGION, SERVICE, "aws4_request"):
        key = hmac_sha256(key, part)
    return key


def canonical_query(query):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    quote = lambda v: urllib.parse.quote(v, safe="-_.~")
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(pairs))


def seed_signature(key, stamp, scope, method, path, query, headers, payload):
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            path,
            canonical_query(query),
            "".join(f"{n}:{headers[n].strip()}\n" for n in names),
            ";".join(names),
            payload,
        ]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    return ";".join(names), hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def aws_chunks(key, stamp, scope, seed, data):
    """The body aws-chunked: each chunk signed over the previous chunk's signature."""
    previous = seed
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] + [b""]
    out = bytearray()
    for piece in pieces:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                stamp,
                scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(piece).hexdigest(),
            ]
        )
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return bytes(out)


def http_chunked(body):
    """`body` as HTTP/1.1 chunks, ending with the zero chunk."""
    out = bytearray()
    for i in range(0, len(body), CHUNK):
        piece = body[i : i + CHUNK]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def main():
    host, bucket, key_name, file, mode, access, secret = sys.argv[1:8]
    query = sys.argv[8] if len(sys.argv) > 8 else ""
    data = open(file, "rb").read()
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{REGION}/{SERVICE}/aws4_request"
    key = signing_key(secret, day)
    path = "/" + bucket + "/" + urllib.parse.quote(key_name, safe="/-_.~")
    headers = {"host": host, "x-amz-date": stamp}
    if mode in ("streaming", "lying", "claiming"):
        payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        declared = len(data) + {"streaming": 0, "lying": -1, "claiming": 1}[mode]
        headers["content-encoding"] = "aws-chunked"
        headers["x-amz-decoded-content-length"] = str(declared)
    elif mode == "unsigned":
        payload = "UNSIGNED-PAYLOAD"
    else:
        sys.exit(f"unknown mode {mode}")
    headers["x-amz-content-sha256"] = payload
    signed, signature = seed_signature(key, stamp, scope, "PUT", path, query, headers, payload)
    if payload.startswith("STREAMING"):
        body = aws_chunks(key, stamp, scope, signature, data)
    else:
        body = data
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    target = path + ("?" + canonical_query(query) if query else "")
    head = f"PUT {target} HTTP/1.1\r\n"
    for name, value in headers.items():
        head += f"{name}: {value}\r\n"
    head += f"authorization: {authorization}\r\n"
    head += "transfer-encoding: chunked\r\nconnection: close\r\n\r\n"

    address, port = host.rsplit(":", 1)
    with socket.create_connection((address, int(port)), timeout=60) as conn:
        conn.sendall(head.encode())
        try:
            conn.sendall(http_chunked(body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the body was all read: the answer says why
        answer = bytearray()
        while True:
            got = conn.recv(65536)
            if not got:
                break
            answer += got
    status_line, _, rest = bytes(answer).partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    print(status_line.split()[1].decode())
    print(content.decode(errors="replace"))


main()
