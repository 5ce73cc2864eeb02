//! An `/embeddings` response body: `{"data": [{"embedding": …}, …], "usage": {…}}`.
//!
//! Only what the measurement needs is kept: how many vectors came back and the server's token
//! count. The vectors themselves are skipped while reading (never stored), whether written as
//! arrays of numbers or as base64 strings.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// What one embeddings response carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingsReply {
    /// Vectors in `data`.
    pub vectors: usize,
    /// The server's input tokens: `usage.prompt_tokens`, else `usage.total_tokens`.
    pub input_tokens: Option<u64>,
    /// The response's `id`, when it has one.
    pub id: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    data: Option<Vec<Item>>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    /// Required: an item without a vector is not an embedding.
    #[allow(dead_code)]
    embedding: IgnoredAny,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// Reads an embeddings response, or says why the body is not one.
pub fn decode(body: &[u8]) -> Result<EmbeddingsReply, String> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| {
        let at = if e.is_syntax() || e.is_eof() {
            "not JSON"
        } else {
            "not an embeddings object"
        };
        format!("the response body is {at} ({e})")
    })?;
    let Some(data) = raw.data else {
        return Err("the response body has no `data` list of embeddings".into());
    };
    let input_tokens = raw.usage.and_then(|u| u.prompt_tokens.or(u.total_tokens));
    Ok(EmbeddingsReply {
        vectors: data.len(),
        input_tokens,
        id: raw.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_vectors_and_reads_usage() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]},{"index":1,"embedding":"AAAAAA=="}],"model":"m","usage":{"prompt_tokens":12,"total_tokens":12}}"#;
        let r = decode(body).expect("an embeddings response");
        assert_eq!(r.vectors, 2);
        assert_eq!(r.input_tokens, Some(12));
        assert_eq!(r.id, None);
    }

    #[test]
    fn total_tokens_stands_in_for_prompt_tokens() {
        let body = br#"{"data":[{"embedding":[1]}],"usage":{"total_tokens":7}}"#;
        assert_eq!(decode(body).expect("decodes").input_tokens, Some(7));
        let body = br#"{"data":[{"embedding":[1]}]}"#;
        assert_eq!(decode(body).expect("decodes").input_tokens, None);
    }

    #[test]
    fn other_bodies_are_refused_with_a_reason() {
        let chat = br#"{"id":"c","choices":[{"index":0,"message":{"content":"hi"}}]}"#;
        assert!(decode(chat).unwrap_err().contains("no `data`"));
        let sse = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        assert!(decode(sse).unwrap_err().contains("not JSON"));
        let no_vector = br#"{"data":[{"index":0}]}"#;
        assert!(decode(no_vector)
            .unwrap_err()
            .contains("not an embeddings object"));
        assert!(decode(b"[1,2]").is_err());
        assert!(decode(b"").is_err());
    }
}
