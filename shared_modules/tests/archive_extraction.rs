//! Safe extraction: good archives of every format come out whole under safe names; each
//! hostile one is refused with its own reason and nothing is written outside the destination.

#![allow(clippy::unwrap_used)] // tests fail loudly on any unexpected error

use flate2::Compression;
use flate2::write::GzEncoder;
use shared_modules::archive::{ExtractError, Limits, extract, extract_until};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

fn limits() -> Limits {
    Limits {
        max_entries: 100,
        max_total_bytes: 10 * 1024 * 1024,
        max_path_depth: 8,
        max_nesting: 3,
        max_ratio: 100,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A tar with raw header control, so hostile names and types can be written.
fn tar_with(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if *kind == tar::EntryType::Symlink || *kind == tar::EntryType::Link {
            header.set_link_name("target").unwrap();
        }
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

struct Case {
    _dir: tempfile::TempDir,
    upload: PathBuf,
    dest: PathBuf,
    root: PathBuf,
}

fn case(bytes: &[u8]) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, bytes).unwrap();
    let dest = dir.path().join("job/tmp");
    std::fs::create_dir_all(&dest).unwrap();
    Case {
        root: dir.path().to_path_buf(),
        _dir: dir,
        upload,
        dest,
    }
}

/// Every file under `root` that is not the upload and not under `dest`.
fn written_outside(c: &Case) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out)
            } else {
                out.push(e.path())
            }
        }
    }
    let mut all = Vec::new();
    walk(&c.root, &mut all);
    all.into_iter()
        .filter(|p| *p != c.upload && !p.starts_with(&c.dest))
        .collect()
}

#[test]
fn every_format_extracts_with_the_original_names_reported() {
    let inner_tar = tar_with(&[
        ("dump/jobs.txt", tar::EntryType::Regular, b"1,0,3"),
        ("dump/images.txt", tar::EntryType::Regular, b"IMAGE x"),
    ]);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "export.tar",
            inner_tar.clone(),
            vec!["export.tar/dump/jobs.txt", "export.tar/dump/images.txt"],
        ),
        (
            "export.tar.gz",
            gzip(&inner_tar),
            vec![
                "export.tar.gz/dump/jobs.txt",
                "export.tar.gz/dump/images.txt",
            ],
        ),
        (
            "export.zip",
            zip_with(&[("a/jobs.txt", b"1,0,3"), ("b.txt", b"IMAGE")]),
            vec!["export.zip/a/jobs.txt", "export.zip/b.txt"],
        ),
        ("jobs.txt.gz", gzip(b"1,0,3"), vec!["jobs.txt.gz/jobs.txt"]),
        ("jobs.txt", b"1,0,3".to_vec(), vec!["jobs.txt"]),
        (
            "nested.zip",
            zip_with(&[("inner.tar.gz", &gzip(&inner_tar))]),
            vec![
                "nested.zip/inner.tar.gz/dump/jobs.txt",
                "nested.zip/inner.tar.gz/dump/images.txt",
            ],
        ),
    ];
    for (name, bytes, want) in cases {
        let c = case(&bytes);
        let files =
            extract(&c.upload, name, &c.dest, limits()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let originals: Vec<_> = files.iter().map(|f| f.original.as_str()).collect();
        assert_eq!(originals, want, "{name}");
        for f in &files {
            assert!(
                f.path.starts_with(&c.dest) || f.path == c.upload,
                "{name}: {} escaped",
                f.path.display()
            );
            assert_eq!(std::fs::metadata(&f.path).unwrap().len(), f.bytes);
        }
        assert!(written_outside(&c).is_empty(), "{name}");
    }
}

#[test]
fn multi_member_gzip_is_read_whole() {
    let mut two = gzip(b"first part\n");
    two.extend(gzip(b"second part\n"));
    let c = case(&two);
    let files = extract(&c.upload, "jobs.txt.gz", &c.dest, limits()).unwrap();
    assert_eq!(
        std::fs::read_to_string(&files[0].path).unwrap(),
        "first part\nsecond part\n"
    );
}

/// Whether an error is the refusal a case expects.
type IsReason = fn(&ExtractError) -> bool;

#[test]
fn each_hostile_archive_is_refused_with_its_own_reason() {
    use tar::EntryType::*;
    let many: Vec<(String, &[u8])> = (0..150)
        .map(|i| (format!("f{i}.txt"), b"x" as &[u8]))
        .collect();
    let many_refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let deep_name = "a/b/c/d/e/f/g/h/i/j.txt";
    let mut nested = gzip(b"deepest");
    for _ in 0..4 {
        nested = zip_with(&[("inner.bin", &nested)]);
    }
    let cases: Vec<(&str, Vec<u8>, IsReason)> = vec![
        (
            "absolute",
            tar_with(&[("/etc/passwd", Regular, b"x")]),
            |e| matches!(e, ExtractError::AbsolutePath(_)),
        ),
        (
            "dotdot",
            tar_with(&[("ok/../../escape.txt", Regular, b"x")]),
            |e| matches!(e, ExtractError::ParentTraversal(_)),
        ),
        ("drive", zip_with(&[("C:/boot.ini", b"x")]), |e| {
            matches!(e, ExtractError::WindowsPath(_))
        }),
        ("backslash", zip_with(&[("..\\..\\evil.txt", b"x")]), |e| {
            matches!(e, ExtractError::WindowsPath(_))
        }),
        ("symlink", tar_with(&[("link", Symlink, b"")]), |e| {
            matches!(e, ExtractError::Symlink(_))
        }),
        ("hardlink", tar_with(&[("hard", Link, b"")]), |e| {
            matches!(e, ExtractError::HardLink(_))
        }),
        ("fifo", tar_with(&[("pipe", Fifo, b"")]), |e| {
            matches!(e, ExtractError::SpecialFile(_))
        }),
        ("device", tar_with(&[("sda", Block, b"")]), |e| {
            matches!(e, ExtractError::SpecialFile(_))
        }),
        ("entries", zip_with(&many_refs), |e| {
            matches!(e, ExtractError::TooManyEntries { .. })
        }),
        ("depth", tar_with(&[(deep_name, Regular, b"x")]), |e| {
            matches!(e, ExtractError::TooDeep { .. })
        }),
        ("nesting", nested, |e| {
            matches!(e, ExtractError::NestedTooDeep { .. })
        }),
        (
            "corrupt",
            {
                let mut z = zip_with(&[("a", b"x")]);
                z.truncate(20);
                z
            },
            |e| matches!(e, ExtractError::Corrupt { .. }),
        ),
    ];
    for (name, bytes, check) in cases {
        let c = case(&bytes);
        let err = extract(&c.upload, name, &c.dest, limits()).expect_err(name);
        assert!(check(&err), "{name}: got {err}");
        assert!(err.is_permanent(), "{name}: bad input is not retried");
        assert!(err.to_string().len() > 20, "{name}: {err}");
        assert!(
            written_outside(&c).is_empty(),
            "{name}: wrote outside the destination"
        );
    }
}

#[test]
fn a_gzip_of_zeros_stops_at_the_byte_limit_whatever_it_claims() {
    // 10 MB of compressed zeros would expand to about 10 GB; build a smaller bomb of the
    // same shape: 100 MB of zeros against a 10 MB limit.
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..100 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(
        bomb.len() < 200_000,
        "the bomb itself is small ({} bytes)",
        bomb.len()
    );
    let c = case(&bomb);
    // The ratio guard would stop it first: this test is about the byte limit alone.
    let byte_limit_only = Limits {
        max_ratio: u64::MAX,
        ..limits()
    };
    let err = extract(&c.upload, "zeros.gz", &c.dest, byte_limit_only).unwrap_err();
    assert!(
        matches!(err, ExtractError::TooLarge { limit, .. } if limit == 10 * 1024 * 1024),
        "{err}"
    );
    let written: u64 = walkdir_size(&c.dest);
    assert!(
        written <= 10 * 1024 * 1024,
        "stopped at the limit, wrote {written}"
    );
}

#[test]
fn overlapping_zip_entries_are_refused() {
    // Two central-directory entries pointing at the same local file: the second overlaps.
    let mut zip = zip_with(&[("a.txt", b"hello")]);
    let cd = find(&zip, b"PK\x01\x02").unwrap();
    let eocd = find(&zip, b"PK\x05\x06").unwrap();
    let central = zip[cd..eocd].to_vec();
    let mut duplicate = central.clone();
    let name_at = 46;
    duplicate[name_at] = b'b';
    let mut out = zip[..eocd].to_vec();
    out.extend_from_slice(&duplicate);
    let mut end = zip[eocd..].to_vec();
    end[8] += 1; // entries on this disk
    end[10] += 1; // total entries
    let size = (central.len() * 2) as u32;
    end[12..16].copy_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&end);
    zip = out;
    let c = case(&zip);
    let err = extract(&c.upload, "overlap.zip", &c.dest, limits()).unwrap_err();
    assert!(matches!(err, ExtractError::OverlappingEntries(..)), "{err}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn walkdir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walkdir_size(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

/// Zeros compressed: 256 MiB in about 256 KB. With the default limits (8 GiB in all) only the
/// ratio guard stops it, within a few MiB of output.
fn zeros_gzip(mib: usize) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..mib {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap()
}

#[test]
fn a_decompression_bomb_is_refused_by_its_ratio_having_written_little() {
    let bomb = zeros_gzip(256);
    let c = case(&bomb);
    let started = std::time::Instant::now();
    let err = extract(&c.upload, "zeros.gz", &c.dest, Limits::default()).unwrap_err();
    assert!(
        matches!(err, ExtractError::TooCompressed { ratio, limit: 100, .. } if ratio > 100),
        "{err}"
    );
    let written = walkdir_size(&c.dest);
    assert!(
        written <= 9 * 1024 * 1024,
        "refused after {written} bytes written"
    );
    eprintln!("bomb refused after {:?}", started.elapsed());

    let zipped = zip_with(&[("zeros.txt", &vec![0u8; 32 * 1024 * 1024])]);
    let c = case(&zipped);
    let err = extract(&c.upload, "zeros.zip", &c.dest, Limits::default()).unwrap_err();
    assert!(matches!(err, ExtractError::TooCompressed { .. }), "{err}");

    let inner = tar_with(&[(
        "zeros.txt",
        tar::EntryType::Regular,
        &vec![0u8; 32 * 1024 * 1024],
    )]);
    let c = case(&gzip(&inner));
    let err = extract(&c.upload, "zeros.tar.gz", &c.dest, Limits::default()).unwrap_err();
    assert!(matches!(err, ExtractError::TooCompressed { .. }), "{err}");
}

#[test]
fn text_that_compresses_like_a_real_export_passes_the_ratio_guard() {
    // bpdbjobs-like lines with varying numbers: about 5-10:1, as real exports.
    let mut text = String::new();
    let mut seed = 12345u64;
    while text.len() < 24 * 1024 * 1024 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(&format!(
            "{},0,3,0,policy_{},client{}.example,1765{:06},{},{}\n",
            seed % 1_000_000,
            seed % 17,
            seed % 97,
            seed % 1_000_000,
            seed >> 40,
            seed % 4096
        ));
    }
    let c = case(&gzip(text.as_bytes()));
    let files = extract(&c.upload, "jobs.txt.gz", &c.dest, Limits::default()).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].bytes, text.len() as u64);
}

#[test]
fn a_cancelled_extraction_stops() {
    let c = case(&zeros_gzip(16));
    let stop = CancellationToken::new();
    stop.cancel();
    let err = extract_until(&c.upload, "zeros.gz", &c.dest, Limits::default(), &stop).unwrap_err();
    assert!(matches!(err, ExtractError::Cancelled), "{err}");
}
