//! Kernel receive timestamps: when the bytes of a socket read reached the host's TCP stack,
//! rather than when llmload's event loop got round to reading them.
//!
//! Why: a token's time is what every latency figure is built from. Taken in user space after
//! the read, it includes however long the data sat in the socket while the event loop was busy
//! with other streams — the generator's own delay, reported as the endpoint's. With
//! `SO_TIMESTAMPNS` set on a socket, Linux stamps each arriving segment (`CLOCK_REALTIME`) and
//! `recvmsg` returns the stamp of the most recent segment it consumed. That stamp is turned into
//! a monotonic instant by subtracting how long ago it was (the difference of two clock reads
//! taken together at the read), so the run's monotonic clock stays the only time base and a
//! wall-clock step between reads cannot move a token.
//!
//! Elsewhere (other systems, or when the option cannot be set) reads are untimed and the
//! caller keeps its user-space clock. How late the read came is returned too: the generator
//! reports it as its own read delay.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Least spare room offered to a read.
const MIN_READ: usize = 8 * 1024;

/// Asks the kernel to stamp the socket's received data. False when it cannot.
pub fn enable(s: &TcpStream) -> bool {
    keep_on() && imp::enable(s)
}

/// Turns the kernel's receive stamping on for the whole process and returns once it is live
/// (false when it cannot be). Linux switches stamping on lazily, from a deferred work item,
/// when the first socket asks, and off again when the last such socket closes; until then
/// segments arrive unstamped. So the first call opens a loopback connection pair that asks
/// for stamps and stays open for the life of the process, and sends a byte over it until one
/// comes back stamped (normally at once; at most about 200 ms). Later calls cost nothing.
pub fn keep_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(imp::keep_on)
}

/// What one read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Bytes appended to the buffer (0: the peer closed).
    pub n: usize,
    /// When the last of those bytes reached the host, when known.
    pub at: Option<Instant>,
}

/// Reads what the socket has into `buf`'s spare room (growing it when short), waiting for
/// data when there is none. With stamping enabled, returns when the data arrived, never later
/// than now and never earlier than `not_before` (an instant the data cannot precede, such as
/// when the request was written).
pub async fn read(s: &TcpStream, buf: &mut BytesMut, not_before: Instant) -> io::Result<Read> {
    if buf.capacity() - buf.len() < MIN_READ {
        buf.reserve(MIN_READ);
    }
    imp::read(s, buf, not_before).await
}

/// The instant `age` before `now`, kept within [`not_before`, `now`].
fn back_from(now: Instant, age: Duration, not_before: Instant) -> Instant {
    now.checked_sub(age)
        .unwrap_or(not_before)
        .max(not_before)
        .min(now)
}

#[cfg(target_os = "linux")]
pub mod imp {
    use std::io;
    use std::mem::{size_of, MaybeUninit};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use bytes::{BufMut, BytesMut};
    use tokio::io::Interest;
    use tokio::net::TcpStream;
    use tokio::time::Instant;

    use super::{back_from, Read};

    pub fn enable(s: &TcpStream) -> bool {
        enable_fd(s.as_raw_fd())
    }

    fn enable_fd(fd: i32) -> bool {
        let on: libc::c_int = 1;
        // SAFETY: the caller's fd is open for the call; the value is a c_int on the stack
        // whose size is passed.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        r == 0
    }

    /// A kernel receive stamp: (seconds, nanoseconds) since the Unix epoch.
    pub type Stamp = (i64, i64);

    /// One `recvmsg` into `room`: (bytes written at its start, the stamp when the kernel gave
    /// one).
    pub fn recv_once(
        fd: i32,
        room: &mut [MaybeUninit<u8>],
    ) -> io::Result<(usize, Option<(i64, i64)>)> {
        let mut iov = libc::iovec {
            iov_base: room.as_mut_ptr().cast(),
            iov_len: room.len(),
        };
        // Room for one timespec control message, aligned for cmsghdr.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is a plain C struct for which all-zero is a valid (empty) value.
        let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 8]>() as _;
        // SAFETY: the iovec points at `room` with its exact length, the control buffer is a
        // live, aligned stack array of the given size, and the fd is open.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: the CMSG_* helpers walk the control buffer the kernel filled, within the
        // length it reported in msg_controllen; the payload is read unaligned.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    stamp = Some((ts.tv_sec, ts.tv_nsec));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok((n as usize, stamp))
    }

    /// How long ago a stamp was, by the wall clock (0 when it is in the future).
    pub fn age(stamp: (i64, i64)) -> Duration {
        let (rs, rns) = realtime();
        let ns = (i128::from(rs) - i128::from(stamp.0)) * 1_000_000_000 + i128::from(rns - stamp.1);
        Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(u64::MAX))
    }

    pub fn keep_on() -> bool {
        use std::io::Write;
        use std::sync::OnceLock;
        static PAIR: OnceLock<(std::net::TcpStream, std::net::TcpStream)> = OnceLock::new();
        let pair = (|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            let a = std::net::TcpStream::connect(l.local_addr()?)?;
            let (b, _) = l.accept()?;
            Ok::<_, io::Error>((a, b))
        })();
        let Ok((mut a, b)) = pair else { return false };
        if !enable_fd(b.as_raw_fd()) {
            return false;
        }
        for _ in 0..200 {
            if a.write_all(b"x").is_err() {
                return false;
            }
            let mut room = [MaybeUninit::<u8>::uninit(); 64];
            // Loopback delivers within the write; a miss is retried after a pause.
            if let Ok((_, Some(_))) = recv_once(b.as_raw_fd(), &mut room) {
                let _ = PAIR.set((a, b));
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    fn realtime() -> (i64, i64) {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id and a live timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        (ts.tv_sec, ts.tv_nsec)
    }

    /// One stamped read into `room` on a socket tokio reports readable: (bytes written at its
    /// start, the stamp), or None when there was nothing after all (readiness then cleared).
    ///
    /// A read that did not fill the room drained the socket: it is reported to tokio as "would
    /// block", so the readiness is cleared (as tokio's own reads do) and the next read waits
    /// for the next edge instead of costing a failed syscall — but the data is kept.
    pub fn try_recv(
        s: &TcpStream,
        room: &mut [MaybeUninit<u8>],
    ) -> io::Result<Option<(usize, Option<Stamp>)>> {
        let (fd, len) = (s.as_raw_fd(), room.len());
        let mut short = None;
        let r = s.try_io(Interest::READABLE, || {
            let got = recv_once(fd, room)?;
            if got.0 > 0 && got.0 < len {
                short = Some(got);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(got)
        });
        match r {
            Ok(got) => Ok(Some(got)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(short),
            Err(e) => Err(e),
        }
    }

    pub async fn read(s: &TcpStream, buf: &mut BytesMut, not_before: Instant) -> io::Result<Read> {
        loop {
            s.readable().await?;
            let Some((n, stamp)) = try_recv(s, buf.spare_capacity_mut())? else {
                continue;
            };
            // SAFETY: the kernel initialised the first `n` bytes of the spare room.
            unsafe { buf.advance_mut(n) };
            let at = stamp.map(|st| back_from(Instant::now(), age(st), not_before));
            return Ok(Read { n, at });
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    use bytes::BytesMut;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;
    use tokio::time::Instant;

    use super::Read;

    pub fn enable(_: &TcpStream) -> bool {
        false
    }

    pub fn keep_on() -> bool {
        false
    }

    pub async fn read(s: &TcpStream, buf: &mut BytesMut, _: Instant) -> io::Result<Read> {
        // No stamps here: the caller's clock is used.
        let mut s = s;
        let n = (&mut s).read_buf(buf).await?;
        Ok(Read { n, at: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[test]
    fn back_from_stays_within_its_bounds() {
        let now = Instant::now();
        let floor = now - Duration::from_millis(10);
        assert_eq!(
            back_from(now, Duration::from_millis(3), floor),
            now - Duration::from_millis(3)
        );
        // Older than anything possible (a clock step): the floor.
        assert_eq!(back_from(now, Duration::from_secs(3600), floor), floor);
        assert_eq!(back_from(now, Duration::ZERO, floor), now);
    }

    /// Data written while the reader is busy elsewhere is stamped with when it arrived, not
    /// when it was read: the stamp lies before the read by about the time it waited.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_late_read_is_stamped_with_the_arrival() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        let c = c.unwrap();
        let (mut s, _) = s.unwrap();
        assert!(enable(&c), "SO_TIMESTAMPNS on a TCP socket");
        let floor = Instant::now();
        s.write_all(b"first").await.unwrap();
        let written = Instant::now();
        // The reader is "busy" for 30 ms; the bytes wait in the socket.
        std::thread::sleep(Duration::from_millis(30));
        let mut buf = BytesMut::new();
        let r = read(&c, &mut buf, floor).await.unwrap();
        let read_at = Instant::now();
        assert_eq!(r.n, 5);
        assert_eq!(&buf[..], b"first");
        let at = r.at.expect("a kernel stamp");
        // (1 ms of slack: the wall clock may be slewed against the monotonic one.)
        let slack = Duration::from_millis(1);
        assert!(
            at >= floor && at <= written + slack,
            "stamped at the write, not the read"
        );
        assert!(read_at.duration_since(at) >= Duration::from_millis(30) - slack);
        // A second write, read at once: its stamp is after the first's.
        s.write_all(b"second").await.unwrap();
        let r2 = read(&c, &mut buf, at).await.unwrap();
        assert_eq!(&buf[..], b"firstsecond");
        assert!(r2.at.expect("stamp") > at);
        // The peer closes: a zero read.
        drop(s);
        let r3 = read(&c, &mut buf, at).await.unwrap();
        assert_eq!(r3.n, 0);
    }

    /// Without the option the read still works, untimed.
    #[tokio::test]
    async fn unstamped_sockets_read_untimed() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        let c = c.unwrap();
        let (mut s, _) = s.unwrap();
        s.write_all(b"abc").await.unwrap();
        let mut buf = BytesMut::new();
        let r = read(&c, &mut buf, Instant::now()).await.unwrap();
        assert_eq!((r.n, r.at), (3, None));
    }
}
