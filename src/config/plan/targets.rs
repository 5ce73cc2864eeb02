//! `[[targets]]`: where requests go, with their credentials' names, headers, extra body
//! fields, TLS, client choice, timeouts, limits and 429 back-off.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::{Base, Problems, RetryPolicy, Target, Timeouts};
use crate::config::scenario::{ClientKind, HttpVersion, TargetSpec};

/// Body fields llmload sets itself (from `[workload]`); a target's `body` cannot override them.
const RESERVED_BODY_FIELDS: [&str; 11] = [
    "model",
    "messages",
    "prompt",
    "stream",
    "stream_options",
    "max_tokens",
    "temperature",
    "seed",
    // The Responses API's own names for the prompt, system prompt and token limit.
    "input",
    "instructions",
    "max_output_tokens",
];

/// The targets, and each name's index for the models to refer to (a name used twice is a
/// problem). File paths (`tls.ca_bundle`, `api_key_file`) are relative to `dir`.
pub(super) fn build<'f>(
    specs: &'f [TargetSpec],
    dir: &Path,
    p: &mut Problems,
) -> (Vec<Target>, HashMap<&'f str, usize>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    if specs.is_empty() {
        p.push("targets", "at least one [[targets]] entry is needed");
    }
    let mut targets = Vec::new();
    for (i, t) in specs.iter().enumerate() {
        if index.insert(t.name.as_str(), i).is_some() {
            p.push(
                &at(i, "name"),
                format!("target name `{}` is used twice", t.name),
            );
        }
        targets.push(target(i, t, dir, p));
    }
    (targets, index)
}

/// The field `k` of target `i`.
fn at(i: usize, k: &str) -> String {
    format!("targets[{i}].{k}")
}

fn target(i: usize, t: &TargetSpec, dir: &Path, p: &mut Problems) -> Target {
    let (base, basic) = base(i, &t.base_url, p);
    let auth = auth(i, t, basic, p);
    if let Some(env) = &t.api_key_env {
        if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            p.push(
                &at(i, "api_key_env"),
                "must be the NAME of an environment variable (letters, digits, _), never the key itself",
            );
        }
    }
    let headers = headers(i, t, p);
    let body = body(i, t, p);
    let ca_bundle = ca_bundle(i, t.tls.ca_bundle.as_deref(), dir, p);
    let api_key_file = t.api_key_file.as_ref().map(|f| dir.join(f));
    if t.api_key_file.is_some() && t.api_key_env.is_some() {
        p.push(
            &at(i, "api_key_file"),
            "give `api_key_env` or `api_key_file`, not both",
        );
    }
    let lean = lean(i, t, p);
    let timeouts = timeouts(i, t, p);
    for (name, v) in [
        ("requests_per_minute", t.limits.requests_per_minute),
        ("tokens_per_minute", t.limits.tokens_per_minute),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v >= 1.0) {
                p.push(&at(i, &format!("limits.{name}")), "must be a number ≥ 1");
            }
        }
    }
    if t.max_response_bytes.is_some_and(|n| n < 1024) {
        p.push(&at(i, "max_response_bytes"), "must be at least 1024");
    }
    let retry_on_429 = retry_on_429(i, t, p);
    let server_metrics = server_metrics(i, t, p);
    Target {
        name: t.name.clone(),
        base,
        api_key_env: t.api_key_env.clone(),
        auth,
        headers,
        body,
        timeouts,
        requests_per_minute: t.limits.requests_per_minute,
        tokens_per_minute: t.limits.tokens_per_minute,
        pool_max_idle: t.pool_max_idle.unwrap_or(usize::MAX),
        http: t.http.unwrap_or_default(),
        ca_bundle,
        insecure: t.tls.insecure,
        api_key_file,
        lean,
        max_response_bytes: t
            .max_response_bytes
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        retry_on_429,
        server_metrics,
    }
}

/// `server_metrics` (an http(s) URL, or "mock" on a mock target) and `server_metrics_gauges`
/// (Prometheus metric names). The URL's `user:password@` is taken out for basic auth and no
/// message repeats it.
fn server_metrics(
    i: usize,
    t: &TargetSpec,
    p: &mut Problems,
) -> Option<crate::config::plan::ServerScrape> {
    for (k, g) in t.server_metrics_gauges.iter().enumerate() {
        if !is_metric_name(g) {
            p.push(
                &at(i, &format!("server_metrics_gauges[{k}]")),
                format!("`{g}` is not a Prometheus metric name (letters, digits, `_` and `:`, not starting with a digit)"),
            );
        }
    }
    let Some(url) = &t.server_metrics else {
        if !t.server_metrics_gauges.is_empty() {
            p.push(
                &at(i, "server_metrics_gauges"),
                "needs `server_metrics`, the endpoint to read the gauges from",
            );
        }
        return None;
    };
    let field = at(i, "server_metrics");
    let gauges = t.server_metrics_gauges.clone();
    if url == "mock" {
        if t.base_url != "mock" {
            p.push(
                &field,
                "\"mock\" names the built-in mock's endpoint, but this target's base_url is not \"mock\"; give the server's http(s)://…/metrics URL",
            );
        }
        return Some(crate::config::plan::ServerScrape {
            url: None,
            basic: None,
            gauges,
        });
    }
    let parsed = if url.starts_with("http://") || url.starts_with("https://") {
        reqwest::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))
    } else {
        Err(format!(
            "`{}` is neither \"mock\" nor an http(s):// URL such as \"http://127.0.0.1:8000/metrics\"",
            crate::core::redact::strip_userinfo(url)
        ))
    };
    let mut u = match parsed {
        Ok(u) => u,
        Err(e) => {
            p.push(&field, e);
            return None;
        }
    };
    if u.fragment().is_some() {
        p.push(
            &field,
            "a URL fragment (`#…`) is never sent to the server; remove it",
        );
    }
    let basic = (!u.username().is_empty() || u.password().is_some()).then(|| {
        (
            percent_decode(u.username()),
            percent_decode(u.password().unwrap_or("")),
        )
    });
    // Both only fail for URLs that cannot carry credentials, which http(s) URLs always can.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Some(crate::config::plan::ServerScrape {
        url: Some(u.to_string()),
        basic,
        gauges,
    })
}

/// Whether `s` is a Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// `base_url`: "mock" or an http(s) URL, kept without its trailing slash, its query string
/// (if any) kept after the path, and its `user:password@` (if any) taken out and returned
/// apart (percent-decoded) for HTTP basic auth. No message repeats the URL's credentials.
fn base(i: usize, base_url: &str, p: &mut Problems) -> (Base, Option<(String, String)>) {
    if base_url == "mock" {
        return (Base::Mock(Box::default()), None);
    }
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        p.push(
            &at(i, "base_url"),
            format!(
                "`{}` is neither \"mock\" nor an http(s):// URL such as \"https://api.example.com/v1\"",
                crate::core::redact::strip_userinfo(base_url)
            ),
        );
        return (Base::Url(String::new()), None);
    }
    if let Err(e) = reqwest::Url::parse(base_url) {
        // The parser's message never quotes the input.
        p.push(&at(i, "base_url"), format!("not a valid URL: {e}"));
        return (Base::Url(String::new()), None);
    }
    let (scheme, rest) = base_url.split_at(base_url.find("://").map_or(0, |k| k + 3));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (basic, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (Some((percent_decode(user), percent_decode(pass))), host)
        }
        None => (None, authority),
    };
    if tail.contains('#') {
        p.push(
            &at(i, "base_url"),
            "a URL fragment (`#…`) is never sent to the server; remove it",
        );
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut url = format!("{scheme}{host}{}", path.trim_end_matches('/'));
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    (Base::Url(url), basic)
}

/// `%XX` escapes decoded (as RFC 3986 writes them in a URL's user information); anything
/// else kept as it stands.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[k],
            b.get(k + 1).copied().and_then(hex),
            b.get(k + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                k += 3;
            }
            (c, _, _) => {
                out.push(c);
                k += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `auth`: how the key is sent. A style other than the default needs a key to send; URL
/// credentials (sent as `Authorization: Basic`) cannot share the Authorization header with
/// the key.
fn auth(
    i: usize,
    t: &TargetSpec,
    basic: Option<(String, String)>,
    p: &mut Problems,
) -> crate::config::plan::Auth {
    use crate::config::plan::{Auth, AuthStyle};
    let field = at(i, "auth");
    let style = match &t.auth {
        None => AuthStyle::Bearer,
        Some(toml::Value::String(s)) if s == "bearer" => AuthStyle::Bearer,
        Some(toml::Value::String(s)) if s == "api-key" => AuthStyle::ApiKey,
        Some(toml::Value::Table(tb))
            if tb.len() == 1 && tb.get("header").is_some_and(toml::Value::is_str) =>
        {
            let name = tb.get("header").and_then(toml::Value::as_str).unwrap_or("");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                p.push(&format!("{field}.header"), "not a valid HTTP header name");
            } else if t.headers.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                p.push(
                    &format!("{field}.header"),
                    format!(
                        "`{name}` is also set in `headers`; the key goes in it, so drop it there"
                    ),
                );
            }
            AuthStyle::Header(name.to_string())
        }
        Some(_) => {
            p.push(
                &field,
                "must be \"bearer\" (Authorization: Bearer KEY, the default), \"api-key\" (api-key: KEY, Azure OpenAI) or { header = \"X-Name\" } (X-Name: KEY)",
            );
            AuthStyle::Bearer
        }
    };
    let clash = t.headers.keys().find(|k| k.eq_ignore_ascii_case("api-key"));
    if let (AuthStyle::ApiKey, Some(k)) = (&style, clash) {
        p.push(
            &at(i, &format!("headers.{k}")),
            "with auth = \"api-key\" the key goes in this header; drop it here and name the key with api_key_env",
        );
    }
    let has_key = t.api_key_env.is_some() || t.api_key_file.is_some();
    if t.auth.is_some() && !has_key {
        p.push(
            &field,
            "says how the API key is sent, but there is no key: add api_key_env or api_key_file",
        );
    }
    let key_in_authorization = match &style {
        AuthStyle::Bearer => true,
        AuthStyle::ApiKey => false,
        AuthStyle::Header(n) => n.eq_ignore_ascii_case("authorization"),
    };
    if basic.is_some() && has_key && key_in_authorization {
        p.push(
            &at(i, "base_url"),
            "the user:password in the URL is sent as basic auth in the Authorization header, where the API key would go too; drop one, or send the key under another header with `auth`",
        );
    }
    Auth { style, basic }
}

/// The valid extra headers; credentials belong in the environment.
fn headers(i: usize, t: &TargetSpec, p: &mut Problems) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (k, v) in &t.headers {
        let field = at(i, &format!("headers.{k}"));
        if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            p.push(&field, "not a valid HTTP header name");
        } else if reqwest::header::HeaderValue::from_str(v).is_err() {
            p.push(&field, "not a valid HTTP header value");
        } else {
            if k.eq_ignore_ascii_case("authorization") {
                p.push(
                    &field,
                    "put credentials in the environment and name it with api_key_env",
                );
            }
            headers.push((k.clone(), v.clone()));
        }
    }
    headers
}

/// The extra body fields, none of them one llmload sets itself.
fn body(i: usize, t: &TargetSpec, p: &mut Problems) -> serde_json::Map<String, serde_json::Value> {
    let body = match serde_json::to_value(&t.body) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => {
            p.push(&at(i, "body"), "must be a table of JSON-compatible values");
            serde_json::Map::new()
        }
    };
    for reserved in RESERVED_BODY_FIELDS {
        if body.contains_key(reserved) {
            p.push(
                &at(i, &format!("body.{reserved}")),
                format!("`{reserved}` is set by llmload itself (from [workload]); it cannot be overridden here"),
            );
        }
    }
    body
}

/// The PEM bytes of `tls.ca_bundle` (relative to `dir`).
fn ca_bundle(i: usize, file: Option<&str>, dir: &Path, p: &mut Problems) -> Option<Vec<u8>> {
    let f = file?;
    match std::fs::read(dir.join(f)) {
        Ok(b) if String::from_utf8_lossy(&b).contains("-----BEGIN CERTIFICATE-----") => Some(b),
        Ok(_) => {
            p.push(
                &at(i, "tls.ca_bundle"),
                format!("`{f}` holds no PEM certificate"),
            );
            None
        }
        Err(e) => {
            p.push(&at(i, "tls.ca_bundle"), format!("cannot read `{f}`: {e}"));
            None
        }
    }
}

/// Whether the target uses the lean HTTP/1.1 transport; asking for it where it cannot
/// serve is a problem.
fn lean(i: usize, t: &TargetSpec, p: &mut Problems) -> bool {
    let explicit_lean = t.client == Some(ClientKind::Lean);
    let lean = t.client.unwrap_or_default().uses_lean(
        &t.base_url,
        t.http,
        crate::config::scenario::proxy_in_env_for(&t.base_url),
    );
    if explicit_lean && t.http == Some(HttpVersion::Http2) {
        p.push(
            &at(i, "client"),
            "the lean client speaks HTTP/1.1 only; drop `http = \"2\"`",
        );
    }
    lean
}

/// The defaults with the target's own timeouts over them.
fn timeouts(i: usize, t: &TargetSpec, p: &mut Problems) -> Timeouts {
    let mut timeouts = Timeouts::default();
    let spec = &t.timeouts;
    for (name, v, slot) in [
        ("connect", spec.connect, &mut timeouts.connect),
        ("first_token", spec.first_token, &mut timeouts.first_token),
        ("idle", spec.idle, &mut timeouts.idle),
        ("total", spec.total, &mut timeouts.total),
    ] {
        if let Some(d) = v {
            if d.0.is_zero() {
                p.push(
                    &at(i, &format!("timeouts.{name}")),
                    "must be greater than 0",
                );
            }
            *slot = d.0;
        }
    }
    timeouts
}

/// The 429 back-off, when the target asks for one (`max_wait` 5 s unless given).
fn retry_on_429(i: usize, t: &TargetSpec, p: &mut Problems) -> Option<RetryPolicy> {
    let r = t.retry_on_429.as_ref()?;
    if !(1..=100).contains(&r.max_retries) {
        p.push(
            &at(i, "retry_on_429.max_retries"),
            "must be between 1 and 100",
        );
    }
    let max_wait = r.max_wait.map_or(Duration::from_secs(5), |d| d.0);
    if max_wait.is_zero() {
        p.push(&at(i, "retry_on_429.max_wait"), "must be greater than 0");
    }
    Some(RetryPolicy {
        max_retries: r.max_retries,
        max_wait,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;

    /// The targets built from `targets` (TOML `[[targets]]` entries), and the problems found.
    fn check(targets: &str, test: impl FnOnce(&[Target], &[(&str, &str)])) {
        let text = format!(
            "name = \"t\"\n{targets}\n[[models]]\nid = \"m\"\ntarget = \"sim\"\n\
             [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n"
        );
        let (src, f) = scenario(&text);
        let mut p = Problems::new(&src);
        let (built, _) = build(&f.targets, Path::new("."), &mut p);
        test(&built, &fields(p.found()));
    }

    #[test]
    fn a_url_loses_its_trailing_slash_and_unset_settings_take_their_defaults() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"http://127.0.0.1:8000/v1/\"\n\
                 timeouts = { idle = \"5s\" }\nretry_on_429 = { max_retries = 3 }";
        check(t, |targets, problems| {
            assert_eq!(problems, []);
            let t = &targets[0];
            assert!(matches!(&t.base, Base::Url(u) if u == "http://127.0.0.1:8000/v1"));
            assert_eq!(
                t.timeouts,
                Timeouts {
                    connect: Duration::from_secs(10),
                    first_token: Duration::from_secs(120),
                    idle: Duration::from_secs(5),
                    total: Duration::from_secs(600),
                }
            );
            assert_eq!(
                t.retry_on_429,
                Some(RetryPolicy {
                    max_retries: 3,
                    max_wait: Duration::from_secs(5),
                })
            );
            assert_eq!(t.pool_max_idle, usize::MAX);
        });
    }

    #[test]
    fn a_server_metrics_url_loses_its_credentials_and_bad_ones_name_their_field() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"http://127.0.0.1:8000/v1\"\n\
                 server_metrics = \"http://u:p%40ss@127.0.0.1:8000/metrics\"\n\
                 server_metrics_gauges = [\"my_queue_depth\", \"vllm:x\"]";
        check(t, |targets, problems| {
            assert_eq!(problems, []);
            let s = targets[0].server_metrics.as_ref().expect("scraped");
            assert_eq!(s.url.as_deref(), Some("http://127.0.0.1:8000/metrics"));
            assert_eq!(s.basic, Some(("u".into(), "p@ss".into())));
            assert_eq!(s.gauges, ["my_queue_depth", "vllm:x"]);
            assert!(!format!("{s:?}").contains("p@ss"));
        });
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\nserver_metrics = \"mock\"\n\
                 [[targets]]\nname = \"b\"\nbase_url = \"http://h/v1\"\nserver_metrics = \"mock\"\n\
                 [[targets]]\nname = \"c\"\nbase_url = \"http://h/v1\"\n\
                 server_metrics = \"user:secret@h/metrics\"\n\
                 [[targets]]\nname = \"d\"\nbase_url = \"http://h/v1\"\n\
                 server_metrics_gauges = [\"9bad\"]";
        check(t, |targets, problems| {
            let m = targets[0].server_metrics.as_ref().expect("the mock's");
            assert_eq!(m.url, None);
            assert_eq!(
                problems,
                [
                    (
                        "targets[1].server_metrics",
                        "\"mock\" names the built-in mock's endpoint, but this target's base_url is not \"mock\"; give the server's http(s)://…/metrics URL"
                    ),
                    (
                        "targets[2].server_metrics",
                        "`<redacted>@h/metrics` is neither \"mock\" nor an http(s):// URL such as \"http://127.0.0.1:8000/metrics\""
                    ),
                    (
                        "targets[3].server_metrics_gauges[0]",
                        "`9bad` is not a Prometheus metric name (letters, digits, `_` and `:`, not starting with a digit)"
                    ),
                    (
                        "targets[3].server_metrics_gauges",
                        "needs `server_metrics`, the endpoint to read the gauges from"
                    ),
                ]
            );
        });
    }

    #[test]
    fn a_base_url_is_mock_or_an_http_url_and_a_name_is_used_once() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
                 [[targets]]\nname = \"sim\"\nbase_url = \"api.example.com\"";
        check(t, |targets, problems| {
            assert!(matches!(targets[0].base, Base::Mock(_)));
            assert_eq!(
                problems,
                [
                    ("targets[1].name", "target name `sim` is used twice"),
                    (
                        "targets[1].base_url",
                        "`api.example.com` is neither \"mock\" nor an http(s):// URL such as \"https://api.example.com/v1\""
                    ),
                ]
            );
        });
    }

    #[test]
    fn credentials_stay_out_of_the_scenario_and_llmloads_own_body_fields_stay_its_own() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
                 api_key_env = \"sk-123\"\napi_key_file = \"key.txt\"\n\
                 headers = { Authorization = \"Bearer sk-123\", \"x-team\" = \"a\" }\n\
                 body = { top_k = 5, stream = false }";
        check(t, |targets, problems| {
            assert_eq!(
                problems,
                [
                    (
                        "targets[0].api_key_env",
                        "must be the NAME of an environment variable (letters, digits, _), never the key itself"
                    ),
                    (
                        "targets[0].headers.Authorization",
                        "put credentials in the environment and name it with api_key_env"
                    ),
                    (
                        "targets[0].body.stream",
                        "`stream` is set by llmload itself (from [workload]); it cannot be overridden here"
                    ),
                    (
                        "targets[0].api_key_file",
                        "give `api_key_env` or `api_key_file`, not both"
                    ),
                ]
            );
            assert_eq!(targets[0].body.get("top_k"), Some(&serde_json::json!(5)));
        });
    }

    #[test]
    fn the_lean_client_is_refused_where_it_cannot_serve() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"https://api.example.com/v1\"\n\
                 client = \"lean\"\nhttp = \"2\"";
        check(t, |_, problems| {
            assert_eq!(
                problems,
                // https is served (HTTP/1.1 over TLS); HTTP/2 is not.
                [(
                    "targets[0].client",
                    "the lean client speaks HTTP/1.1 only; drop `http = \"2\"`"
                )]
            );
        });
    }

    #[test]
    fn timeouts_limits_and_back_off_must_be_usable() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
                 timeouts = { connect = \"0s\" }\nlimits = { tokens_per_minute = 0.5 }\n\
                 max_response_bytes = 100\n\
                 retry_on_429 = { max_retries = 0, max_wait = \"0s\" }";
        check(t, |_, problems| {
            assert_eq!(
                problems,
                [
                    ("targets[0].timeouts.connect", "must be greater than 0"),
                    (
                        "targets[0].limits.tokens_per_minute",
                        "must be a number ≥ 1"
                    ),
                    ("targets[0].max_response_bytes", "must be at least 1024"),
                    (
                        "targets[0].retry_on_429.max_retries",
                        "must be between 1 and 100"
                    ),
                    ("targets[0].retry_on_429.max_wait", "must be greater than 0"),
                ]
            );
        });
    }

    #[test]
    fn a_ca_bundle_must_hold_a_pem_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("not.pem"), "hello").expect("write");
        let text = "name = \"t\"\n[[targets]]\nname = \"a\"\nbase_url = \"mock\"\n\
                    tls = { ca_bundle = \"not.pem\" }\n\
                    [[targets]]\nname = \"b\"\nbase_url = \"mock\"\n\
                    tls = { ca_bundle = \"missing.pem\" }\n\
                    [[models]]\nid = \"m\"\ntarget = \"a\"\n\
                    [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n";
        let (src, f) = scenario(text);
        let mut p = Problems::new(&src);
        build(&f.targets, dir.path(), &mut p);
        let found = fields(p.found());
        assert_eq!(
            found[0],
            (
                "targets[0].tls.ca_bundle",
                "`not.pem` holds no PEM certificate"
            )
        );
        assert_eq!(found[1].0, "targets[1].tls.ca_bundle");
        assert!(
            found[1].1.starts_with("cannot read `missing.pem`: "),
            "{}",
            found[1].1
        );
    }

    #[test]
    fn a_query_string_stays_after_the_path_and_url_credentials_become_basic_auth() {
        let t = "[[targets]]\nname = \"sim\"\n\
                 base_url = \"https://x.openai.azure.com/openai/deployments/d/?api-version=2024-10-21\"\n\
                 api_key_env = \"AZURE_KEY\"\nauth = \"api-key\"\n\
                 [[targets]]\nname = \"gw\"\nbase_url = \"http://me:p%40ss@127.0.0.1:9/v1/\"\n\
                 [[targets]]\nname = \"own\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                 api_key_file = \"key.txt\"\nauth = { header = \"X-Api-Token\" }";
        check(t, |targets, problems| {
            assert_eq!(problems, []);
            assert!(matches!(&targets[0].base, Base::Url(u)
                if u == "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21"));
            assert_eq!(
                targets[0].auth.style,
                crate::config::plan::AuthStyle::ApiKey
            );
            assert!(matches!(&targets[1].base, Base::Url(u) if u == "http://127.0.0.1:9/v1"));
            assert_eq!(targets[1].auth.basic, Some(("me".into(), "p@ss".into())));
            assert!(
                !format!("{:?}", targets[1]).contains("p@ss"),
                "Debug hides it"
            );
            assert_eq!(
                targets[2].auth.style,
                crate::config::plan::AuthStyle::Header("X-Api-Token".into())
            );
        });
    }

    #[test]
    fn a_bad_auth_style_or_a_clash_is_a_problem_that_never_quotes_the_password() {
        let t = "[[targets]]\nname = \"sim\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                 api_key_env = \"K\"\nauth = \"basic\"\n\
                 [[targets]]\nname = \"a\"\nbase_url = \"http://127.0.0.1:9/v1\"\nauth = \"api-key\"\n\
                 headers = { API-Key = \"k\" }\n\
                 [[targets]]\nname = \"b\"\nbase_url = \"http://u:hunter2@127.0.0.1:9/v1#frag\"\n\
                 api_key_env = \"K\"\n\
                 [[targets]]\nname = \"c\"\nbase_url = \"ftp://u:hunter2@h/v1\"\n\
                 [[targets]]\nname = \"d\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"K\"\n\
                 auth = { header = \"bad name\" }";
        check(t, |_, problems| {
            let style = "must be \"bearer\" (Authorization: Bearer KEY, the default), \"api-key\" (api-key: KEY, Azure OpenAI) or { header = \"X-Name\" } (X-Name: KEY)";
            assert_eq!(
                problems,
                [
                    ("targets[0].auth", style),
                    (
                        "targets[1].headers.API-Key",
                        "with auth = \"api-key\" the key goes in this header; drop it here and name the key with api_key_env"
                    ),
                    (
                        "targets[1].auth",
                        "says how the API key is sent, but there is no key: add api_key_env or api_key_file"
                    ),
                    (
                        "targets[2].base_url",
                        "a URL fragment (`#…`) is never sent to the server; remove it"
                    ),
                    (
                        "targets[2].base_url",
                        "the user:password in the URL is sent as basic auth in the Authorization header, where the API key would go too; drop one, or send the key under another header with `auth`"
                    ),
                    (
                        "targets[3].base_url",
                        "`ftp://<redacted>@h/v1` is neither \"mock\" nor an http(s):// URL such as \"https://api.example.com/v1\""
                    ),
                    ("targets[4].auth.header", "not a valid HTTP header name"),
                ]
            );
        });
    }
}
