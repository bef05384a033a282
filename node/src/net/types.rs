//! What the network task reports to its callers: publications, peers and
//! its own status, serialised as the control API shows them.

// The control API's own types: the actor fills them directly, so the
// network keeps no second definition to convert field by field.
pub use mutua_api::{Delivery, NetworkStatus, Peer as PeerInfo, PublishReport};
