//! A ListParts answer read leniently. moto names its root `ListPartsResponse` where S3 says
//! `ListPartsResult`, and the SDK refuses the whole answer for it; the parts inside are the
//! same, so they are read here from the raw XML instead.

use super::ReceivedPart;

/// The parts of one page, and the marker of the next page when there is one.
pub fn parse(xml: &str) -> (Vec<ReceivedPart>, Option<String>) {
    let parts = xml
        .split("<Part>")
        .skip(1)
        .filter_map(|rest| {
            let part = rest.split("</Part>").next()?;
            Some(ReceivedPart {
                number: element(part, "PartNumber")?.parse().ok()?,
                etag: element(part, "ETag")?
                    .replace("&quot;", "")
                    .replace("&#34;", "")
                    .trim_matches('"')
                    .to_string(),
                size: element(part, "Size")?.parse().ok()?,
            })
        })
        .collect();
    let truncated = element(xml, "IsTruncated").is_some_and(|t| t == "true");
    let next = element(xml, "NextPartNumberMarker")
        .filter(|_| truncated)
        .map(str::to_string);
    (parts, next)
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motos_answer_gives_its_parts_and_the_next_page() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<ListPartsResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>1</PartNumber><LastModified>2026-12-07T14:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>8388608</Size></Part><Part><PartNumber>2</PartNumber><ETag>"ab"</ETag><Size>5</Size></Part></ListPartsResponse>"#;
        let (parts, next) = parse(xml);
        assert_eq!(
            parts,
            vec![
                ReceivedPart {
                    number: 1,
                    etag: "9b2cf535f27731c974343645a3985328".into(),
                    size: 8_388_608
                },
                ReceivedPart {
                    number: 2,
                    etag: "ab".into(),
                    size: 5
                }
            ]
        );
        assert_eq!(next.as_deref(), Some("2"));
        let (none, last) =
            parse("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>");
        assert!(none.is_empty() && last.is_none());
    }
}
