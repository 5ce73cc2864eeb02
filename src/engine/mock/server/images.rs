//! Images in the mock's chat requests: each `image_url` part's data URL is checked and its
//! prompt tokens counted.
//!
//! Rule (OpenAI's published count for high detail, without upscaling): an image is scaled
//! down to fit 2048 x 2048, then down so its shorter side is at most 768 pixels; it costs
//! 85 tokens plus 170 per 512 x 512 tile needed to cover it. `detail = "low"` costs 85. A
//! URL that is not a `data:` URL is not fetched and costs 85. A `data:` URL that is not
//! `data:image/…;base64,<base64 of a PNG, JPEG, GIF or WebP>` is refused (HTTP 400).

use crate::config::images::{base64_decode, sniff};

/// Tokens every image costs.
const BASE: u64 = 85;
/// Tokens per 512 x 512 tile.
const PER_TILE: u64 = 170;

/// The prompt tokens of one image part, or why its data URL is malformed.
pub(crate) fn prompt_tokens(url: &str, detail: Option<&str>) -> Result<u64, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(BASE);
    };
    let Some((head, data)) = rest.split_once(',') else {
        return Err("malformed image data URL: no comma before the data".into());
    };
    let Some(mime) = head.strip_suffix(";base64") else {
        return Err("malformed image data URL: not base64 (`;base64,` expected)".into());
    };
    if !mime.starts_with("image/") {
        return Err(format!(
            "malformed image data URL: `{}` is not an image type",
            mime.chars().take(40).collect::<String>()
        ));
    }
    // The whole payload is checked to be base64; only its start is decoded, enough for any
    // header (a JPEG's frame header can follow up to 64 KiB of metadata segments), so a large
    // image costs the mock little time on the loop that also times other streams.
    let not_base64 = "malformed image data URL: the data is not valid base64";
    if !is_base64(data) {
        return Err(not_base64.into());
    }
    let head = &data[..data.len().min(HEAD_CHARS)];
    let bytes = base64_decode(head).ok_or(not_base64)?;
    let (_, w, h) = sniff(&bytes).map_err(|e| format!("image data URL: {e}"))?;
    if detail == Some("low") {
        return Ok(BASE);
    }
    Ok(BASE + PER_TILE * tiles(w, h))
}

/// Base64 characters decoded for the header: 96 KiB of image (a multiple of 4).
const HEAD_CHARS: usize = 128 * 1024;

/// Whether `s` is padded standard base64: a multiple of 4 characters of the alphabet, with
/// at most two `=` and only at the end.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.len() - b.iter().rev().take_while(|&&c| c == b'=').count();
    b.len() % 4 == 0
        && b.len() - body <= 2
        && b[..body]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// 512-pixel tiles covering `w` x `h` once scaled into 2048 x 2048 and to a shorter side of
/// at most 768.
fn tiles(w: u32, h: u32) -> u64 {
    let (mut w, mut h) = (f64::from(w), f64::from(h));
    let fit = (2048.0 / w).min(2048.0 / h);
    if fit < 1.0 {
        w *= fit;
        h *= fit;
    }
    let short = w.min(h);
    if short > 768.0 {
        let s = 768.0 / short;
        w *= s;
        h *= s;
    }
    let up = |v: f64| (v.floor() as u64).div_ceil(512).max(1);
    up(w) * up(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::images::synthetic;

    #[test]
    fn tiles_follow_the_published_examples() {
        // OpenAI's examples: 1024 x 1024 → 768 x 768, 4 tiles, 765 tokens; 2048 x 4096 →
        // 1024 x 2048 → 768 x 1536, 6 tiles, 1105 tokens.
        assert_eq!(BASE + PER_TILE * tiles(1024, 1024), 765);
        assert_eq!(BASE + PER_TILE * tiles(2048, 4096), 1105);
        assert_eq!(tiles(512, 512), 1);
        assert_eq!(tiles(513, 100), 2);
        assert_eq!(tiles(1, 1), 1);
    }

    #[test]
    fn data_urls_are_checked_and_counted() {
        let img = &synthetic(1, 600, 300, 1).expect("image")[0];
        let v: serde_json::Value = serde_json::from_str(img.part.get()).expect("JSON");
        let url = v["image_url"]["url"].as_str().expect("url");
        // 600 x 300: 2 x 1 tiles.
        assert_eq!(prompt_tokens(url, None), Ok(BASE + 2 * PER_TILE));
        assert_eq!(prompt_tokens(url, Some("low")), Ok(BASE));
        assert_eq!(prompt_tokens("https://example.com/cat.png", None), Ok(BASE));
        // A large image: read from its decoded start, checked whole.
        let big = &synthetic(1, 1024, 1024, 2).expect("image")[0];
        let v: serde_json::Value = serde_json::from_str(big.part.get()).expect("JSON");
        let url = v["image_url"]["url"].as_str().expect("url");
        assert!(url.len() > 4 * HEAD_CHARS);
        assert_eq!(prompt_tokens(url, None), Ok(BASE + 4 * PER_TILE));
        let mut broken = url.to_string();
        broken.replace_range(url.len() - 10..url.len() - 9, "*");
        assert!(prompt_tokens(&broken, None).is_err());
        for bad in [
            "data:image/png;base64",
            "data:image/png,AAAA",
            "data:text/plain;base64,AAAA",
            "data:image/png;base64,@@@@",
            "data:image/png;base64,AAAA",
            "data:image/png;base64,AA=A",
        ] {
            assert!(prompt_tokens(bad, None).is_err(), "{bad}");
        }
    }
}
