//! One request's life after its protocol has read it, the same for every protocol:
//! who answers it, what its answer waits on, refusals and their statuses, a panic
//! or an unsendable response as 500, its id, its client behind trusted proxies,
//! the fields every answer carries, and its record in the metrics and the access
//! log. Its files: `docs/architecture.md`.

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
