//! Connections at once per client address, so that one host cannot take the whole pool.
//!
//! A reverse proxy in `ATIENDE_TRUSTED_PROXIES` carries many clients over its connections and is
//! not counted here (the server loop skips it); every other peer address is one client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// How many connections each client address holds.
#[derive(Debug)]
pub struct Clients {
    held: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

impl Clients {
    pub fn new(max: usize) -> Arc<Clients> {
        Arc::new(Clients {
            held: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// A place for one more connection from `ip`, unless it holds `max` already.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let ip = ip.to_canonical();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

/// One connection's place among its client's; given back when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self
            .clients
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_places_given_back_when_dropped() {
        let clients = Clients::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = clients.enter(a).unwrap();
        let _second = clients.enter(a).unwrap();
        assert!(clients.enter(a).is_none());
        // The same address written as IPv6 is the same client.
        assert!(clients.enter("::ffff:127.0.0.1".parse().unwrap()).is_none());
        assert!(clients.enter(b).is_some());
        drop(first);
        assert!(clients.enter(a).is_some());
    }
}
