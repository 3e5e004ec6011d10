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
print(f"seeded {root}")
