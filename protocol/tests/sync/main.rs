//! Reconciliation between two in-memory replicas running the sync state
//! machine against each other, with every message encoded, size-checked and
//! decoded on the way.

mod messages;
mod sessions;
mod support;
mod synthetic;
