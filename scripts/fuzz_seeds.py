#!/usr/bin/env python3
"""Seeds the fuzz corpora (argument: the corpus root) from the project's fixtures and, when
present, ../shared/samples/: each target gets inputs shaped as it reads them."""
import glob, gzip, io, os, sys, tarfile, zipfile

root = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
samples = os.path.join(os.path.dirname(repo), "shared", "samples")

def files(*patterns):
    out = []
    for p in patterns:
        out.extend(sorted(glob.glob(os.path.join(repo, p))))
        out.extend(sorted(glob.glob(os.path.join(samples, p))))
    return [f for f in out if os.path.isfile(f)]

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def read(path):
    with open(path, "rb") as f:
        return f.read()

mails = files("modules/hydrastor/*/fixtures/*.eml", "mailhandler/tests/fixtures/*.eml", "hydrastor/*.eml")
exports = files("modules/hydrastor/veritas2hview/fixtures/*.txt", "netbackup/*.txt")
formats = ["bpdbjobs", "summary", "bpimagelist", "listdp", "liststs", "bpstulist", "bperror"]

for i, path in enumerate(mails):
    raw = read(path)
    put("mail_routing", f"{i}.eml", raw)
    put("system_report", f"{i}.txt", raw)
    put("alert", f"{i}.txt", raw)
    put("html_to_text", f"{i}.html", raw)
for i, path in enumerate(exports):
    raw = read(path)
    name = os.path.basename(path).lower()
    selector = next((n for n, f in enumerate(formats) if f in name), i % len(formats))
    put("netbackup_readers", f"{i}.txt", bytes([selector]) + raw[:200_000])
    put("sniff", f"{i}.txt", raw.split(b"\n", 1)[0][:4096])
    put("archive_extract", f"{i}.gz", gzip.compress(raw[:100_000]))
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as t:
        info = tarfile.TarInfo(name=f"dump/{os.path.basename(path)}")
        info.size = min(len(raw), 100_000)
        t.addfile(info, io.BytesIO(raw[:100_000]))
    put("archive_extract", f"{i}.tar.gz", tar.getvalue())
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(os.path.basename(path), raw[:100_000])
    put("archive_extract", f"{i}.zip", z.getvalue())
bodies = [
    b'{"uid":"u-1","customer":"bobs_burgers","grid":"fryer_grid","s3_path":"bobs_burgers/fryer_grid/dump.tar.gz"}',
    b'{"uid":"","customer":"","grid":"../x","s3_path":"/a//b"}',
]
queries = [b"status=error&customer=bobs_burgers&limit=20", b"cursor=&since=2026-11-01T00:00:00Z", b"type=alert&until=2026-12-01T00:00:00%2B01:00"]
for i, q in enumerate(queries):
    for j, b in enumerate(bodies):
        put("api_requests", f"{i}_{j}", bytes([len(q)]) + q + b)
# Object keys (a key, then a listing prefix on the next line) as aws clients send them.
keys = [b"bobs_burgers/fryer_grid/dump.tar.gz\nbobs_burgers/", b"a/b\na", b"../etc/passwd\n", b"dir/\ndir/",
        b"bobs_burgers/fryer grid/dump (1).tar.gz\n", "bobs/gr\u00fcn/\u00e9t\u00e9.tgz\nbobs/".encode()]
for i, key in enumerate(keys):
    put("s3_keys", f"{i}", key)
# Whole S3 requests (the target signs them): <signer byte 0 none, 1 operator, 2 bob>, then
# "METHOD /path?query", header lines, a blank line and the body.
s3_requests = [
    (1, b"PUT /veritas2hview/bob/g/a.tgz\ncontent-md5: rL0Y20zC+Fzt72VPzMSk2A==\n\nfoo"),
    (2, b"PUT /veritas2hview/bob/g/b.tgz\nx-amz-checksum-crc32: AAAAAA==\n\nbody"),
    (2, b"POST /veritas2hview/bob/g/c.tgz?uploads\n\n"),
    (1, b"GET /veritas2hview?uploads&prefix=bob/\n\n"),
    (2, b"GET /veritas2hview/bob/g/c.tgz?uploadId=x&max-parts=2\n\n"),
    (1, b"GET /veritas2hview?list-type=2&prefix=bob/&delimiter=/\n\n"),
    (0, b"GET /veritas2hview/bob/g/a.tgz?X-Amz-Expires=999999999\n\n"),
    (2, "PUT /veritas2hview/bob/g/\u202eevil.tgz\n\nx".encode()),
    # Issue 28: metadata, copies, conditions, parts, keys as S3 has them, listing encodings.
    (2, b"PUT /veritas2hview/bob/g/m.tgz\nx-amz-meta-mtime: 1700000000.5\ncontent-type: text/csv\nexpires: Wed, 21 Oct 2037 07:28:00 GMT\n\nm"),
    (2, b"PUT /veritas2hview/bob/g/copy.tgz\nx-amz-copy-source: veritas2hview/bob/g/m.tgz\nx-amz-metadata-directive: REPLACE\nx-amz-copy-source-if-match: \"x\"\n\n"),
    (2, b"PUT /veritas2hview/bob/g/m.tgz\nif-none-match: *\n\nn"),
    (2, b"GET /veritas2hview/bob/g/m.tgz?partNumber=2\nif-modified-since: Wed, 21 Oct 2037 07:28:00 GMT\nif-none-match: \"abc\"\n\n"),
    (2, b"DELETE /veritas2hview/bob/g/m.tgz\nif-match: *\n\n"),
    (2, b"PUT /veritas2hview/bob/g/\n\n"),
    (2, b"PUT /veritas2hview/bob/g/a/../b//c\n\nx"),
    (1, b"GET /veritas2hview?prefix=bob/&delimiter=/&encoding-type=url&marker=bob/g/\n\n"),
]
for i, (signer, request) in enumerate(s3_requests):
    put("s3_requests", f"{i}", bytes([signer]) + request)

# What a client sends the API port first: plain HTTP requests (kind byte 0) and a real TLS
# ClientHello made in memory by Python's ssl (kind byte 1).
import ssl
requests = [b"GET /api/1.0/health HTTP/1.1\r\nHost: x\r\nX-Api-Key: k\r\n\r\n",
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nkey=k",
            b"PUT /veritas2hview/a/b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"]
for i, r in enumerate(requests):
    put("api_front", f"plain_{i}", b"\x00" + r)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
try:
    client.do_handshake()
except ssl.SSLWantReadError:
    pass
put("api_front", "tls_client_hello", b"\x01" + outgoing.read())
print(f"seeded {root}")
