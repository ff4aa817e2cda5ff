//! One request's life after its protocol has read it, the same for every protocol:
//! what its protocol hands over ([`request`]), who answers it ([`dispatch`]: the application's route, or OPTIONS, 404, 405,
//! 501), its id ([`request_id`]), its client behind trusted proxies ([`client`]),
//! the server's own error answers ([`errors`]), the fields every answer carries
//! ([`fields`]), what makes a response sendable ([`sendable`]), and its record in the metrics and the access log ([`record`],
//! [`access_log`]).
//!
//! A protocol turns bytes into requests and responses into bytes; everything else
//! is here, or below it.

pub mod access_log;
pub mod answer;
pub mod client;
pub mod dispatch;
pub mod errors;
pub mod field_rules;
pub mod fields;
pub mod method;
pub mod record;
pub mod refusal;
pub mod request;
pub mod request_id;
pub mod sendable;

pub use access_log::AccessLog;
pub use client::TrustedProxies;
pub use fields::opaque_value;
pub use method::RequestMethod;
pub use record::{Carrier, Exchange};
pub use request::ReadRequest;
pub use request_id::RequestId;
