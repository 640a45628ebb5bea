//! Picking free loopback ports for throwaway servers.
//!
//! Ports are chosen by binding `127.0.0.1:0` (so the kernel hands out a
//! currently unused ephemeral port at a random offset), then recorded in a
//! process-wide set so that two fixtures in the same test binary never get
//! the same port, even after one of them has been dropped (a lingering client
//! of a dropped fixture must never reach a server that belongs to another
//! test). Collisions with other processes are unlikely but possible; the
//! start logic detects them ("Address already in use" in the server log, or a
//! different server answering on the port) and retries with a new port.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Ports that belong to a Redis this crate did not start (the developer's or
/// CI's own server, plus its cluster bus and the conventional Sentinel port).
const FORBIDDEN: [u16; 3] = [6379, 16379, 26379];

/// Cluster bus ports are `port + 10000`, so cluster node ports must stay
/// below this bound.
const CLUSTER_PORT_LIMIT: u16 = 55000;

/// The offset of the cluster bus port from the client port.
pub(crate) const CLUSTER_BUS_OFFSET: u16 = 10000;

fn handed_out() -> MutexGuard<'static, HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returns whether `port` can currently be bound on `127.0.0.1`.
pub(crate) fn is_bindable(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn kernel_port() -> u16 {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .expect("cannot bind 127.0.0.1:0 to pick a free port");
    listener
        .local_addr()
        .expect("bound listener has no local address")
        .port()
}

/// Picks a free TCP port on `127.0.0.1`.
///
/// The port is obtained by binding `127.0.0.1:0`; it is never one of the
/// ports of a developer's own Redis (6379, 16379, 26379) and is never handed
/// out twice within the same process. The port is free when this function
/// returns, but nothing holds it: another process may grab it before it is
/// used, so callers must be prepared to retry.
///
/// # Panics
///
/// Panics if no free port can be found.
pub fn free_port() -> u16 {
    pick(false)
}

/// Binds a listener on a free port of `127.0.0.1`, with the same guarantees
/// as [`free_port`] (never a well-known Redis port, never handed out twice in
/// this process), but without the race: the returned listener holds the port.
///
/// # Panics
///
/// Panics if no free port can be found.
pub(crate) fn bind_free_listener() -> TcpListener {
    for _ in 0..1000 {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .expect("cannot bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("bound listener has no local address")
            .port();
        if !FORBIDDEN.contains(&port) && handed_out().insert(port) {
            return listener;
        }
    }
    panic!("could not bind a free port on 127.0.0.1 after 1000 attempts");
}

/// Like [`free_port`], but the port is below 55000 and its cluster bus port
/// (`port + 10000`) is free as well; both are reserved.
pub(crate) fn free_cluster_port() -> u16 {
    pick(true)
}

fn pick(with_bus: bool) -> u16 {
    for _ in 0..1000 {
        let port = kernel_port();
        if FORBIDDEN.contains(&port) {
            continue;
        }
        if with_bus && port >= CLUSTER_PORT_LIMIT {
            continue;
        }
        let bus = port + CLUSTER_BUS_OFFSET;
        let mut ports = handed_out();
        if ports.contains(&port) || (with_bus && ports.contains(&bus)) {
            continue;
        }
        if with_bus && (FORBIDDEN.contains(&bus) || !is_bindable(bus)) {
            continue;
        }
        ports.insert(port);
        if with_bus {
            ports.insert(bus);
        }
        return port;
    }
    panic!("could not find a free port on 127.0.0.1 after 1000 attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_unique_and_bindable() {
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let port = free_port();
            assert!(!FORBIDDEN.contains(&port));
            assert!(seen.insert(port), "port {port} handed out twice");
        }
        let port = free_cluster_port();
        assert!(port < CLUSTER_PORT_LIMIT);
        assert!(!seen.contains(&port));
        assert!(is_bindable(port + CLUSTER_BUS_OFFSET));
    }
}
