//! Who is at the other end of a loopback TCP connection. A port on 127.0.0.1 is open to every
//! user of the machine, so `sesame proxy` serves only its own user's programs: on Linux the
//! kernel lists each socket's uid in `/proc/net/tcp` (and `tcp6`), and the client's socket is
//! the line whose local address is the client's and whose remote address is the proxy's.

use std::net::SocketAddr;

/// Whether the client at `client`, connected to the proxy at `server`, belongs to this user.
/// On Linux, unknown is no; elsewhere it cannot be told, and `sesame proxy` says so at start.
/// A client on another machine (a proxy told to listen beyond loopback, with a warning) is let
/// through: that is what it was told.
pub fn is_ours(client: SocketAddr, server: SocketAddr) -> bool {
    #[cfg(target_os = "linux")]
    {
        !client.ip().is_loopback()
            || uid_of(client, server) == Some(sesame_login::private_file::effective_uid())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (client, server);
        true
    }
}

/// Whether [`is_ours`] can tell.
pub const CHECKED: bool = cfg!(target_os = "linux");

/// The uid of the socket at `client` connected to `server`, as the kernel lists it.
#[cfg(target_os = "linux")]
fn uid_of(client: SocketAddr, server: SocketAddr) -> Option<u32> {
    let table = if client.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(table).ok()?;
    uid_in(&text, client, server)
}

/// The uid column of the line for `client` → `server` in a `/proc/net/tcp` table.
#[cfg(any(target_os = "linux", test))]
fn uid_in(table: &str, client: SocketAddr, server: SocketAddr) -> Option<u32> {
    let (local, remote) = (listed(client), listed(server));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let matches = f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str());
        matches.then(|| f.get(7)?.parse().ok()).flatten()
    })
}

/// An address as `/proc/net/tcp` lists it: each 32-bit word of the address in the machine's
/// byte order, in hex, then the port.
#[cfg(any(target_os = "linux", test))]
fn listed(addr: SocketAddr) -> String {
    let words: Vec<[u8; 4]> = match addr {
        SocketAddr::V4(a) => vec![a.ip().octets()],
        SocketAddr::V6(a) => a
            .ip()
            .octets()
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect(),
    };
    let hex: String = words
        .iter()
        .map(|w| format!("{:08X}", u32::from_ne_bytes(*w)))
        .collect();
    format!("{hex}:{:04X}", addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_line_gives_its_uid() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
           1: 0100007F:D431 0100007F:1F41 01 00000000:00000000 00:00000000 00000000  1000        0 2 1\n\
           2: 0100007F:1F41 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n";
        if cfg!(target_endian = "little") {
            let client: SocketAddr = "127.0.0.1:54321".parse().unwrap();
            let server: SocketAddr = "127.0.0.1:8001".parse().unwrap();
            assert_eq!(uid_in(table, client, server), Some(1000));
            assert_eq!(
                uid_in(table, server, client),
                Some(0),
                "the proxy's own end"
            );
            let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
            assert_eq!(uid_in(table, other, server), None);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_this_process_is_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(server).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(is_ours(peer, server));
    }
}
