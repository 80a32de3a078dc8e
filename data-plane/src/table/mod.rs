//! What the control-plane tells the pod: the routing table it pushes (domains, key hashes,
//! session placements on other pods), kept in the [`RoutingTable`](crate::tunnel::routing)
//! and on disk, the report of the sessions live here, and the certificates that ride in the
//! table, put where visitors and agents see them.
//!
//! - `control_plane`: the subscription, the placements and the session reports;
//! - `certs`: certificates from the table into the SNI store and the DTLS identity.

pub(crate) mod certs;
pub(crate) mod control_plane;
