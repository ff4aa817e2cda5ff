//! QUIC, under HTTP/3: quinn's runtime over smol-toy's executor
//! ([`runtime`]), and the endpoint of each UDP socket ([`endpoint`]): its TLS,
//! its transport's limits, its receive buffer.

pub mod endpoint;
pub mod runtime;
