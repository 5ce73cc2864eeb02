use std::time::Duration;

use super::super::sse::SseParser;
use super::super::ChunkEvents;
use super::*;
use crate::core::record::Phase;

/// Feeds `stream` (SSE bytes) event by event, the n-th event arriving at `n` ms, through the
/// reading `E`; returns the state and the outcome.
fn read<E: super::super::Events>(stream: &str) -> (StreamState, Outcome, Clock) {
    let clock = Clock {
        start: Instant::now(),
    };
    let mut st = StreamState::default();
    let mut parser = SseParser::new(1 << 20);
    let mut n = 0u64;
    for piece in stream.split_inclusive("\n\n") {
        n += 1;
        let t = clock.at(n * 1000);
        parser
            .feed(piece.as_bytes(), |ev| {
                E::on_event(&mut st, &clock, ev.data, t)
            })
            .expect("events within the cap");
    }
    let t = clock.at((n + 1) * 1000);
    parser.finish(|ev| E::on_event(&mut st, &clock, ev.data, t));
    let outcome = E::end_outcome(&mut st);
    (st, outcome, clock)
}

fn ev(kind: &str, rest: &str) -> String {
    let sep = if rest.is_empty() { "" } else { "," };
    format!("event: {kind}\ndata: {{\"type\":\"{kind}\",\"sequence_number\":0{sep}{rest}}}\n\n")
}

fn delta(kind: &str, text: &str) -> String {
    ev(
        kind,
        &format!("\"item_id\":\"i\",\"output_index\":0,\"content_index\":0,\"delta\":{text:?}"),
    )
}

const USAGE: &str = r#""usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":8},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":43}"#;

/// A recorded-shape answer: created, in_progress, a reasoning item with two deltas (at 4 and
/// 5 ms), a message with three answer deltas (at 9, 10 and 11 ms), the done events, completed.
fn answer_stream(end: &str) -> String {
    let mut s = String::new();
    s += &ev(
        "response.created",
        r#""response":{"id":"resp_abc","object":"response","status":"in_progress","output":[],"usage":null}"#,
    );
    s += &ev(
        "response.in_progress",
        r#""response":{"id":"resp_abc","status":"in_progress"}"#,
    );
    s += &ev(
        "response.output_item.added",
        r#""output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}"#,
    );
    s += &delta("response.reasoning_summary_text.delta", "Think");
    s += &delta("response.reasoning_text.delta", "ing");
    s += &ev(
        "response.output_item.done",
        r#""output_index":0,"item":{"id":"rs_1","type":"reasoning"}"#,
    );
    s += &ev(
        "response.output_item.added",
        r#""output_index":1,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}"#,
    );
    s += &ev(
        "response.content_part.added",
        r#""item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":""}"#,
    );
    s += &delta("response.output_text.delta", "Hel");
    s += &delta("response.output_text.delta", "lo \"w\"");
    s += &delta("response.output_text.delta", "!");
    s += &ev(
        "response.output_text.done",
        r#""item_id":"msg_1","output_index":1,"content_index":0,"text":"Hello \"w\"!""#,
    );
    s += end;
    s
}

#[test]
fn a_typed_stream_is_timed_and_counted_as_a_chat_stream() {
    let end = ev(
        "response.completed",
        &format!(r#""response":{{"id":"resp_abc","status":"completed","output":[],{USAGE}}}"#),
    );
    let (st, outcome, clock) = read::<TypedEvents>(&answer_stream(&end));
    assert_eq!(outcome, Outcome::Ok, "{:?}", st.error);
    // Five output events: 2 reasoning (4, 5 ms), 3 answer (9, 10, 11 ms); lifecycle events
    // count for nothing.
    assert_eq!(st.events, 5);
    assert_eq!(st.first.map(|t| clock.us(t)), Some(4000));
    assert_eq!(st.first_answer.map(|t| clock.us(t)), Some(9000));
    assert_eq!(st.last.map(|t| clock.us(t)), Some(11_000));
    assert_eq!(st.first_bytes, 5);
    let gaps: Vec<u32> = st.gaps.iter().map(|g| g.0).collect();
    assert_eq!(gaps, [1000, 4000, 1000, 1000]);
    assert_eq!(st.text, "ThinkingHello \"w\"!");
    assert_eq!(st.finish_reason.as_deref(), Some("stop"));
    assert_eq!(st.id.as_deref(), Some("resp_abc"));
    assert_eq!(
        st.usage,
        Some(wire::Usage {
            prompt_tokens: Some(36),
            completion_tokens: Some(7),
            reasoning_tokens: Some(3),
            cached_tokens: Some(8),
        })
    );
}

#[test]
fn an_incomplete_answer_ends_ok_with_the_finish_reason_length() {
    let end = ev(
        "response.incomplete",
        &format!(
            r#""response":{{"id":"r","status":"incomplete","incomplete_details":{{"reason":"max_output_tokens"}},{USAGE}}}"#
        ),
    );
    let (st, outcome, _) = read::<TypedEvents>(&answer_stream(&end));
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(st.finish_reason.as_deref(), Some("length"));
    assert_eq!(st.usage.and_then(|u| u.completion_tokens), Some(7));
    let end = ev(
        "response.incomplete",
        r#""response":{"incomplete_details":{"reason":"content_filter"}}"#,
    );
    let (st, _, _) = read::<TypedEvents>(&answer_stream(&end));
    assert_eq!(st.finish_reason.as_deref(), Some("content_filter"));
}

#[test]
fn tool_arguments_are_answer_output_and_end_with_tool_calls() {
    let s = delta("response.function_call_arguments.delta", "{\"city\":")
        + &delta("response.function_call_arguments.delta", "\"Paris\"}")
        + &ev("response.completed", r#""response":{"status":"completed"}"#);
    let (st, outcome, clock) = read::<TypedEvents>(&s);
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(st.events, 2);
    assert_eq!(st.first_answer.map(|t| clock.us(t)), Some(1000));
    assert_eq!(st.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(st.usage, None);
}

#[test]
fn failures_and_error_events_carry_the_servers_message() {
    let failed = delta("response.output_text.delta", "Hi")
        + &ev(
            "response.failed",
            r#""response":{"status":"failed","error":{"code":"server_error","message":"The model crashed"}}"#,
        )
        + &delta("response.output_text.delta", "never read");
    let (st, outcome, _) = read::<TypedEvents>(&failed);
    assert_eq!(outcome, Outcome::ErrorEvent);
    assert_eq!(st.error.as_deref(), Some("error event: The model crashed"));
    assert_eq!(st.events, 1);
    for body in [
        r#""code":"rate_limit_exceeded","message":"Slow down","param":null"#,
        r#""error":{"type":"server_error","code":"x","message":"Slow down"}"#,
    ] {
        let (st, outcome, _) = read::<TypedEvents>(&ev("error", body));
        assert_eq!(outcome, Outcome::ErrorEvent, "{body}");
        assert_eq!(st.error.as_deref(), Some("error event: Slow down"));
    }
    // A chat-style error object without a type is the server's error too.
    let (st, outcome, _) =
        read::<TypedEvents>("data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
    assert_eq!(outcome, Outcome::ErrorEvent);
    assert_eq!(st.error.as_deref(), Some("error event: overloaded"));
}

#[test]
fn a_stream_without_its_end_event_is_incomplete_and_done_lines_are_skipped() {
    let (st, outcome, _) = read::<TypedEvents>(&answer_stream(""));
    assert_eq!(outcome, Outcome::Incomplete);
    assert!(st
        .error
        .as_deref()
        .is_some_and(|e| e.contains("response.completed")));
    let end = ev("response.completed", r#""response":{"status":"completed"}"#) + "data: [DONE]\n\n";
    let (_, outcome, _) = read::<TypedEvents>(&answer_stream(&end));
    assert_eq!(outcome, Outcome::Ok);
}

#[test]
fn chat_chunks_answering_a_responses_request_are_malformed_saying_so() {
    let chat = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n\
                data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let (st, outcome, _) = read::<TypedEvents>(chat);
    assert_eq!(outcome, Outcome::MalformedChunk);
    assert_eq!(
        st.error.as_deref(),
        Some("malformed event: a chat completion chunk where a Responses API event was expected")
    );
    assert_eq!(
        st.events, 0,
        "a chat chunk is no output of a Responses stream"
    );
    for (data, why) in [
        ("{not json", "malformed JSON"),
        ("[1,2]", "not an object"),
        ("{\"delta\":\"x\"}", "without a `type`"),
        ("{\"type\":null,\"delta\":\"x\"}", "without a `type`"),
    ] {
        let (st, outcome, _) = read::<TypedEvents>(&format!("data: {data}\n\n"));
        assert_eq!(outcome, Outcome::MalformedChunk, "{data}");
        assert!(
            st.error.as_deref().is_some_and(|e| e.contains(why)),
            "{data}: {:?}",
            st.error
        );
    }
    let (_, outcome, _) = read::<TypedEvents>("data: \u{1}\n\n");
    assert_eq!(outcome, Outcome::MalformedChunk);
}

#[test]
fn typed_events_answering_a_chat_request_are_malformed_saying_so() {
    let end = ev("response.completed", r#""response":{"status":"completed"}"#);
    let (st, outcome, _) = read::<ChunkEvents>(&answer_stream(&end));
    assert_eq!(outcome, Outcome::MalformedChunk);
    assert_eq!(
        st.error.as_deref(),
        Some(
            "malformed event: a Responses API event (response.created) where a completion \
             chunk was expected"
        )
    );
    // A chat stream's own role and usage chunks are not taken for one.
    let chat = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n\
                data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\n\
                data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
    let (st, outcome, _) = read::<ChunkEvents>(chat);
    assert_eq!(outcome, Outcome::Ok, "{:?}", st.error);
}

fn rec() -> RequestRecord {
    RequestRecord::unsent(0, "m".into(), Phase::Measure, Outcome::Ok, 0, 0)
}

#[test]
fn a_whole_response_object_is_read_with_its_output_and_usage() {
    let body = format!(
        r#"{{"id":"resp_1","object":"response","status":"completed","output":[
        {{"type":"reasoning","id":"rs","summary":[{{"type":"summary_text","text":"Hmm. "}}],"content":[{{"type":"reasoning_text","text":"ok"}}]}},
        {{"type":"message","role":"assistant","content":[{{"type":"output_text","text":"Hello","annotations":[]}},{{"type":"refusal","refusal":"no"}}]}},
        {{"type":"function_call","name":"f","call_id":"c","arguments":"{{}}"}}],{USAGE}}}"#
    );
    let mut r = rec();
    r.want_text = true;
    whole_outcome(&mut r, body.as_bytes(), false, 5000);
    assert_eq!(r.outcome, Outcome::Ok, "{:?}", r.error);
    assert_eq!(r.output_events, 1);
    assert_eq!(r.first_event_bytes, 5 + 2 + 5 + 2 + 2);
    assert_eq!(
        (r.t_first_us, r.t_first_answer_us),
        (Some(5000), Some(5000))
    );
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(r.response_id.as_deref(), Some("resp_1"));
    assert_eq!(r.output_tokens, Some(7));
    assert_eq!(r.input_tokens, Some(36));
    assert_eq!(r.reasoning_tokens, Some(3));
    assert_eq!(r.cached_tokens, Some(8));
    assert_eq!(r.output_text.as_deref(), Some("okHmm. Hellono{}"));
    // Reasoning alone has no first answer; incomplete is `length`.
    let body = r#"{"object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
        "output":[{"type":"reasoning","content":[{"type":"reasoning_text","text":"abc"}]}]}"#;
    let mut r = rec();
    whole_outcome(&mut r, body.as_bytes(), false, 5000);
    assert_eq!(r.outcome, Outcome::Ok);
    assert_eq!(r.t_first_answer_us, None);
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert_eq!(r.untokenized_output.as_deref(), Some("abc"));
    // A streaming request answered whole is not_sse, as for chat.
    let mut r = rec();
    whole_outcome(&mut r, body.as_bytes(), true, 5000);
    assert_eq!(r.outcome, Outcome::NotSse);
}

#[test]
fn other_whole_bodies_are_classified_with_what_came() {
    let cases: [(&str, Outcome, &str); 6] = [
        (
            r#"{"id":"c","object":"chat.completion","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}"#,
            Outcome::MalformedChunk,
            "a chat completion (chat.completion) where a Responses API object was expected",
        ),
        (
            r#"{"error":{"message":"bad model","code":"model_not_found"}}"#,
            Outcome::ErrorEvent,
            "bad model",
        ),
        (
            r#"{"object":"response","status":"failed","error":{"code":"server_error","message":"boom"}}"#,
            Outcome::ErrorEvent,
            "boom",
        ),
        (
            r#"{"object":"response","status":"in_progress","output":[]}"#,
            Outcome::Incomplete,
            "the response's status is \"in_progress\"",
        ),
        (
            "{not json",
            Outcome::MalformedChunk,
            "not a Responses API object",
        ),
        (
            r#"{"data":[]}"#,
            Outcome::MalformedChunk,
            "not a Responses API object",
        ),
    ];
    for (body, outcome, why) in cases {
        let mut r = rec();
        whole_outcome(&mut r, body.as_bytes(), false, 1);
        assert_eq!(r.outcome, outcome, "{body}");
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains(why)),
            "{body}: {:?}",
            r.error
        );
        assert_eq!(r.output_events, 0);
    }
}

#[test]
fn only_responses_payloads_are_named_foreign() {
    assert!(
        foreign_payload(br#"{"type":"response.output_text.delta","delta":"x"}"#)
            .is_some_and(|w| w.contains("response.output_text.delta"))
    );
    assert!(foreign_payload(br#"{"id":"r","object":"response","output":[]}"#).is_some());
    assert_eq!(
        foreign_payload(br#"{"choices":[{"delta":{"content":"response"}}]}"#),
        None
    );
    assert_eq!(
        foreign_payload(br#"{"type":"error","message":"response."}"#),
        None
    );
    assert_eq!(foreign_payload(b"\xff\"response."), None);
    let _ = Duration::ZERO;
}
