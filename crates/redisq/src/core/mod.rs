//! The internal core every layer shares: validated names, time helpers, message building,
//! task sources, archive limits and the fleet-wide rate and concurrency limits.
//!
//! It sits below the services (`client`, `server`, `scheduler`, `inspector`) and beside the
//! data layer (`rdb`), and depends only on the crate's data types (`task`, `option`,
//! `error`); nothing in here talks to Redis.

pub(crate) mod flow;
pub(crate) mod limits;
pub(crate) mod message;
pub(crate) mod names;
pub(crate) mod source;
pub(crate) mod throttle;
pub(crate) mod time;
