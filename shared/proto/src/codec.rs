//! The codec every generated Boost service and client uses: prost's, except
//! that bytes which do not decode are the caller's mistake.
//!
//! tonic-prost answers an undecodable request with INTERNAL and the
//! decoder's own text. Boost answers INVALID_ARGUMENT with a `BadRequest`
//! field violation naming the field path (e.g. `event.type`) and what was
//! wrong in plain words (not UTF-8, wrong wire type, truncated, nested too
//! deep), never the decoder's internals.

use std::marker::PhantomData;

use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// How deep prost lets messages nest (its `recursion_limit`); a request
/// past it cannot be decoded at all, whatever Boost's own property limits.
pub const DECODER_DEPTH_LIMIT: u32 = 100;

/// prost's codec with caller-facing decode errors.
#[derive(Debug, Clone)]
pub struct BoostCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for BoostCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for BoostCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BoostDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        BoostDecoder { _type: PhantomData }
    }
}

/// Decodes `U`, mapping failures to INVALID_ARGUMENT.
#[derive(Debug, Clone, Default)]
pub struct BoostDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for BoostDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|e| undecodable(short_type_name::<U>(), &e.to_string()))
    }
}

fn short_type_name<U>() -> &'static str {
    let full = std::any::type_name::<U>();
    full.rsplit("::").next().unwrap_or(full)
}

/// INVALID_ARGUMENT for a `message` whose bytes failed with prost's
/// `error` text (`failed to decode Protobuf message: Msg.field: …: what`).
pub fn undecodable(message: &str, error: &str) -> Status {
    let (path, what) = field_path_and_cause(error);
    let field = if path.is_empty() {
        "request".to_string()
    } else {
        path
    };
    let description = format!("{what} (the bytes are not a valid {message})");
    let details = ErrorDetails::with_bad_request_violation(field.clone(), description.clone());
    Status::with_error_details(
        tonic::Code::InvalidArgument,
        format!("invalid {field}: {description}"),
        details,
    )
}

/// Splits prost's error text into a field path in request terms
/// (`event.properties`) and a plain cause.
fn field_path_and_cause(error: &str) -> (String, &'static str) {
    let text = error
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(error);
    // Stack frames are `Message.field`, innermost first; then the description.
    let mut frames: Vec<(String, String)> = Vec::new();
    for part in text.split(": ") {
        // Rust keywords come back as raw identifiers (`Event.r#type`).
        match part.replacen(".r#", ".", 1).split_once('.') {
            Some((message, field))
                if message
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && message.starts_with(|c: char| c.is_ascii_uppercase()) =>
            {
                frames.push((message.to_string(), field.to_string()));
            }
            _ => break,
        }
    }
    // Outermost first; inside a Struct the path stops: it names the property field.
    let path: Vec<&str> = frames
        .iter()
        .rev()
        .take_while(|(message, _)| !matches!(message.as_str(), "Struct" | "Value" | "ListValue"))
        .map(|(_, field)| field.as_str())
        .collect();
    let cause = if text.contains("recursion limit reached") {
        "nested deeper than the decoder's limit of 100 message levels"
    } else if text.contains("UTF-8") {
        "a string is not valid UTF-8"
    } else if text.contains("wire type") {
        "a field has the wrong wire type"
    } else if text.contains("varint") {
        "a number is not a valid varint"
    } else if text.contains("buffer underflow") || text.contains("delimited length exceeded") {
        "the message is truncated"
    } else if text.contains("invalid tag") || text.contains("invalid key") {
        "a field tag is invalid"
    } else {
        "the message is malformed"
    };
    (path.join("."), cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::v1::TrackRequest;

    fn status_for(bytes: &[u8]) -> Status {
        let error = TrackRequest::decode(bytes).expect_err("garbage must not decode");
        undecodable("TrackRequest", &error.to_string())
    }

    fn field(status: &Status) -> String {
        status
            .get_error_details()
            .bad_request()
            .expect("bad request")
            .field_violations[0]
            .field
            .clone()
    }

    #[test]
    fn test_invalid_utf8_names_the_field() {
        // TrackRequest.event (1, length 3) → Event.type (2, length 1, 0xff).
        let status = status_for(&[0x0a, 0x03, 0x12, 0x01, 0xff]);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(field(&status), "event.type");
        assert!(status.message().contains("UTF-8"), "{}", status.message());
        assert!(
            !status.message().contains("Protobuf"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn test_truncated_wrong_wire_type_and_bad_varint_are_invalid_argument() {
        for bytes in [
            &[0x0a, 0x05, 0x12][..],             // truncated length
            &[0x0d, 0x00, 0x00, 0x00, 0x00][..], // event as fixed32
            &[
                0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ][..], // varint too long
        ] {
            let status = status_for(bytes);
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{bytes:?}");
            assert!(
                !status.message().contains("failed to decode"),
                "{}",
                status.message()
            );
        }
    }

    #[test]
    fn test_path_parsing() {
        assert_eq!(
            field_path_and_cause(
                "failed to decode Protobuf message: Value.kind: Struct.fields: \
                 Event.properties: IngestBatchRequest.events: recursion limit reached"
            ),
            (
                "events.properties".to_string(),
                "nested deeper than the decoder's limit of 100 message levels"
            )
        );
        assert_eq!(field_path_and_cause("garbage").0, "");
    }
}
