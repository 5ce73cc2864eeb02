//! Images in chat messages: image files read and checked (PNG, JPEG, GIF and WebP by their
//! magic bytes and header dimensions), synthetic PNG images of a given size, and each image's
//! content part (`{"type":"image_url","image_url":{"url":"data:…;base64,…"}}`) built once
//! when the plan is made and shared by every request that carries it.
//!
//! An image's bytes and data URL are never shown: `Debug` prints its format, size and byte
//! count only, and errors name the file, never its content.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;

/// Largest image file read (bytes).
pub const MAX_IMAGE_BYTES: u64 = 32 << 20;

/// Largest synthetic image side (pixels).
pub const MAX_SIDE: u32 = 8192;

/// An image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl Format {
    /// The MIME type of a data URL.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::WebP => "image/webp",
        }
    }
}

/// One image as sent: its facts and its content part, ready to be written into a body.
pub struct Image {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Encoded size (the file as read), before base64.
    pub bytes: u64,
    /// `{"type":"image_url","image_url":{"url":"data:<mime>;base64,<data>"}}`.
    pub part: Box<RawValue>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Image({} {}x{}, {} bytes)",
            self.format.mime(),
            self.width,
            self.height,
            self.bytes
        )
    }
}

impl PartialEq for Image {
    fn eq(&self, o: &Image) -> bool {
        self.bytes == o.bytes && self.part.get() == o.part.get()
    }
}

impl Image {
    /// The image of encoded `data` (checked: a PNG, JPEG, GIF or WebP with its dimensions).
    pub fn from_bytes(data: &[u8]) -> Result<Image, String> {
        let (format, width, height) = sniff(data)?;
        let mut url = String::with_capacity(64 + data.len().div_ceil(3) * 4);
        url.push_str("{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:");
        url.push_str(format.mime());
        url.push_str(";base64,");
        base64_encode(data, &mut url);
        url.push_str("\"}}");
        let part = RawValue::from_string(url).map_err(|e| format!("internal: {e}"))?;
        Ok(Image {
            format,
            width,
            height,
            bytes: data.len() as u64,
            part,
        })
    }

    /// Reads and checks an image file; the error names the file.
    pub fn load(path: &Path) -> Result<Image, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("image {}: {e}", path.display()))?;
        if meta.len() > MAX_IMAGE_BYTES {
            return Err(format!(
                "image {}: {} bytes is over the {} MiB limit",
                path.display(),
                meta.len(),
                MAX_IMAGE_BYTES >> 20
            ));
        }
        let data = std::fs::read(path).map_err(|e| format!("image {}: {e}", path.display()))?;
        Image::from_bytes(&data).map_err(|e| format!("image {}: {e}", path.display()))
    }
}

/// `count` synthetic PNG images of `width` x `height` noise pixels, the same for the same
/// `seed`; each differs from the others.
pub fn synthetic(
    count: u32,
    width: u32,
    height: u32,
    seed: u64,
) -> Result<Vec<Arc<Image>>, String> {
    (0..count)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x696d_6167_6573);
            rng.set_stream(u64::from(i));
            Image::from_bytes(&noise_png(width, height, &mut rng)).map(Arc::new)
        })
        .collect()
}

/// Format and dimensions from an image's first bytes, or why it is not an image.
pub fn sniff(d: &[u8]) -> Result<(Format, u32, u32), String> {
    let be32 = |i: usize| {
        d.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let le16 = |i: usize| {
        d.get(i..i + 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let le24 = |i: usize| {
        d.get(i..i + 3)
            .map(|b| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    };
    let truncated = |f: &str| format!("a truncated {f} (no dimensions in its header)");
    let dims = |f: Format, w: u32, h: u32| {
        if w == 0 || h == 0 {
            Err(format!("a {} of {w}x{h} pixels", f.mime()))
        } else {
            Ok((f, w, h))
        }
    };
    if d.starts_with(b"\x89PNG\r\n\x1a\n") {
        return match (d.get(12..16), be32(16), be32(20)) {
            (Some(b"IHDR"), Some(w), Some(h)) => dims(Format::Png, w, h),
            _ => Err(truncated("PNG")),
        };
    }
    if d.starts_with(b"GIF87a") || d.starts_with(b"GIF89a") {
        return match (le16(6), le16(8)) {
            (Some(w), Some(h)) => dims(Format::Gif, w, h),
            _ => Err(truncated("GIF")),
        };
    }
    if d.len() >= 12 && &d[0..4] == b"RIFF" && &d[8..12] == b"WEBP" {
        let found = match d.get(12..16) {
            Some(b"VP8 ") if d.get(23..26) == Some(&[0x9d, 0x01, 0x2a]) => le16(26)
                .zip(le16(28))
                .map(|(w, h)| (w & 0x3fff, h & 0x3fff)),
            Some(b"VP8L") if d.get(20) == Some(&0x2f) => d.get(21..25).map(|b| {
                let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                (1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff))
            }),
            Some(b"VP8X") => le24(24).zip(le24(27)).map(|(w, h)| (w + 1, h + 1)),
            _ => None,
        };
        return match found {
            Some((w, h)) => dims(Format::WebP, w, h),
            None => Err(truncated("WebP")),
        };
    }
    if d.starts_with(&[0xff, 0xd8]) {
        return match jpeg_dims(d) {
            Some((w, h)) => dims(Format::Jpeg, w, h),
            None => Err(truncated("JPEG")),
        };
    }
    Err("not an image: PNG, JPEG, GIF and WebP files are accepted".into())
}

/// Width and height from a JPEG's first start-of-frame segment.
fn jpeg_dims(d: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    // Each step moves forward by at least 2 bytes, so the walk ends.
    while i + 4 <= d.len() {
        if d[i] != 0xff {
            return None;
        }
        let marker = d[i + 1];
        if marker == 0xff {
            i += 1;
            continue;
        }
        if (0xd0..=0xd9).contains(&marker) || marker == 0x01 {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([d[i + 2], d[i + 3]]));
        let sof = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if sof {
            let s = d.get(i + 5..i + 9)?;
            let h = u32::from(u16::from_be_bytes([s[0], s[1]]));
            let w = u32::from(u16::from_be_bytes([s[2], s[3]]));
            return Some((w, h));
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

/// A PNG of `width` x `height` random RGB pixels: uncompressed (stored) deflate blocks, so the
/// file is as large as the pixels (3 bytes each, plus a filter byte per row).
pub fn noise_png(width: u32, height: u32, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let row = 1 + 3 * width as usize;
    let mut raw = vec![0u8; row * height as usize];
    for r in raw.chunks_mut(row) {
        rng.fill_bytes(&mut r[1..]);
    }
    let mut z = Vec::with_capacity(raw.len() + raw.len() / 65_535 * 5 + 16);
    z.extend_from_slice(&[0x78, 0x01]);
    let blocks: Vec<&[u8]> = if raw.is_empty() {
        vec![&[]]
    } else {
        raw.chunks(65_535).collect()
    };
    let last = blocks.len() - 1;
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i == last));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = Vec::with_capacity(z.len() + 64);
    png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// One PNG chunk: length, type, data, CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32_update(crc32_update(!0, kind), data);
    out.extend_from_slice(&(!crc).to_be_bytes());
}

/// The CRC-32 (ISO-HDLC, as PNG uses it) table.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[n] = c;
        n += 1;
    }
    t
};

fn crc32_update(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// The CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    !crc32_update(!0, data)
}

/// The zlib Adler-32 checksum of `data`.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that cannot overflow before the reduction.
    for block in data.chunks(5552) {
        for &x in block {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    b << 16 | a
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends standard base64 (with padding) of `data` to `out`.
pub fn base64_encode(data: &[u8], out: &mut String) {
    for c in data.chunks(3) {
        let n = u32::from(c[0]) << 16
            | u32::from(*c.get(1).unwrap_or(&0)) << 8
            | u32::from(*c.get(2).unwrap_or(&0));
        let sym = |s: u32| B64[(n >> s & 63) as usize] as char;
        out.push(sym(18));
        out.push(sym(12));
        out.push(if c.len() > 1 { sym(6) } else { '=' });
        out.push(if c.len() > 2 { sym(0) } else { '=' });
    }
}

/// Decodes standard base64 (padding required, no whitespace); None when it is not.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let quads = s.len() / 4;
    for (i, q) in s.chunks(4).enumerate() {
        let pad = if i + 1 == quads {
            q.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = n << 6 | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_their_published_check_values() {
        // The check value of each algorithm over the ASCII digits 1-9.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"123456789"), 0x091e_01de);
        assert_eq!(adler32(b""), 1);
        let long = vec![0xffu8; 100_000];
        // Adler-32 from its definition, in u64 without the blocked reduction.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&long), (b << 16 | a) as u32);
    }

    #[test]
    fn base64_round_trips_and_matches_the_rfc_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            base64_encode(plain.as_bytes(), &mut s);
            assert_eq!(s, enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(plain.as_bytes()));
        }
        for bad in ["Zg=", "Z===", "Zm9v!A==", "Zg==Zg=="] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn synthetic_pngs_have_their_size_and_are_deterministic() {
        let a = synthetic(2, 40, 30, 7).expect("images");
        let b = synthetic(2, 40, 30, 7).expect("images");
        assert_eq!(a, b);
        assert_ne!(a[0], a[1], "each image differs");
        assert_ne!(a, synthetic(2, 40, 30, 8).expect("images"));
        let img = &a[0];
        assert_eq!((img.format, img.width, img.height), (Format::Png, 40, 30));
        // Stored deflate: the pixels, a filter byte per row, and fixed overheads.
        let pixels = 30 * (1 + 3 * 40);
        assert_eq!(img.bytes, 8 + 25 + (12 + 2 + 5 + pixels + 4) + 12);
        // The part is a content part holding a data URL that decodes back to the PNG.
        let v: serde_json::Value = serde_json::from_str(img.part.get()).expect("JSON");
        assert_eq!(v["type"], "image_url");
        let url = v["image_url"]["url"].as_str().expect("url");
        let data = url
            .strip_prefix("data:image/png;base64,")
            .expect("data URL");
        let png = base64_decode(data).expect("base64");
        assert_eq!(png.len() as u64, img.bytes);
        assert_eq!(sniff(&png), Ok((Format::Png, 40, 30)));
        // Each chunk's CRC is right and the zlib stream's Adler-32 covers the raw rows.
        let idat_len = u32::from_be_bytes([png[33], png[34], png[35], png[36]]) as usize;
        let idat = &png[37..41 + idat_len];
        let crc = u32::from_be_bytes(png[41 + idat_len..45 + idat_len].try_into().expect("4"));
        assert_eq!(crc32(idat), crc);
        // Debug never shows the data.
        let shown = format!("{img:?}");
        assert_eq!(
            shown,
            format!("Image(image/png 40x30, {} bytes)", img.bytes)
        );
    }

    #[test]
    fn headers_give_format_and_dimensions() {
        let gif = b"GIF89a\x20\x03\x58\x02\x00\x00\x00";
        assert_eq!(sniff(gif), Ok((Format::Gif, 800, 600)));
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0, 0];
        jpeg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 3]);
        assert_eq!(sniff(&jpeg), Ok((Format::Jpeg, 640, 480)));
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[0xff, 0x03, 0x00, 0xdf, 0x02, 0x00]);
        assert_eq!(sniff(&webp), Ok((Format::WebP, 1024, 736)));
        let mut lossless = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        // 1 + 99 = 100 wide, 1 + 49 = 50 high.
        let bits: u32 = 99 | 49 << 14;
        lossless.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(sniff(&lossless), Ok((Format::WebP, 100, 50)));
        assert!(sniff(b"\x89PNG\r\n\x1a\n\0\0").is_err());
        assert!(sniff(&[0xff, 0xd8, 0xff, 0xd9]).is_err());
        let e = sniff(b"name,size\ncat,3\n").expect_err("a CSV");
        assert!(e.starts_with("not an image"), "{e}");
    }
}
