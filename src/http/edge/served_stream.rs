//! The connection's socket as hyper writes to it: a `TcpStream` that sends file-backed
//! bytes (see `storage::file_backed`) with `sendfile(2)`.
//!
//! hyper writes a response as a vector of buffers, the head and then the body's bytes,
//! and never learns where a body's bytes came from. This writer asks, for every large
//! buffer, whether it is a live copy of a blob file; if so it sends the file's pages
//! instead of copying the memory into the socket, as nginx serves a static file. What
//! goes on the wire is the same bytes either way, so hyper's bookkeeping (how much was
//! written) stays true.
//!
//! When a head precedes file-backed bytes, it is sent with `MSG_MORE` so that the kernel
//! holds it for the file's first pages, as one segment would carry them after a
//! `writev`. A `sendfile` that comes up short of a non-empty buffer at the file's end (a
//! file truncated behind our back) is answered from memory instead.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::storage::file_backed::file_behind;

/// An accepted connection; reads and small writes go straight to the socket.
pub struct ServedStream {
    stream: TcpStream,
}

impl ServedStream {
    pub fn new(stream: TcpStream) -> ServedStream {
        ServedStream { stream }
    }

    /// Sends up to `len` bytes of `file` from `offset`; how many were sent.
    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let socket = self.stream.as_raw_fd();
        let source = file.as_raw_fd();
        let Ok(mut offset) = libc::off_t::try_from(offset) else {
            return Poll::Ready(Ok(0));
        };
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            let sent = self.stream.try_io(Interest::WRITABLE, || {
                // SAFETY: both descriptors are open for the whole call (the socket is
                // ours, the file is held by the caller's `Arc`), and `offset` is a local.
                let sent = unsafe { libc::sendfile(socket, source, &mut offset, len) };
                usize::try_from(sent).map_err(|_| io::Error::last_os_error())
            });
            match sent {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    /// Writes `buffers` (a response head) with `MSG_MORE`: more follows at once.
    fn poll_send_more(
        &self,
        cx: &mut Context<'_>,
        buffers: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket = self.stream.as_raw_fd();
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            let sent = self.stream.try_io(Interest::WRITABLE, || {
                // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (std documents
                // it), the slices outlive the call, and the header is a zeroed local.
                let sent = unsafe {
                    let mut message: libc::msghdr = std::mem::zeroed();
                    message.msg_iov = buffers.as_ptr() as *mut libc::iovec;
                    message.msg_iovlen = buffers.len() as _;
                    libc::sendmsg(socket, &message, libc::MSG_MORE | libc::MSG_NOSIGNAL)
                };
                usize::try_from(sent).map_err(|_| io::Error::last_os_error())
            });
            match sent {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    /// Writes `buffer`, which `file` holds at `offset`: from the file, or from memory
    /// when the file cannot give it (see the module documentation).
    fn poll_write_from(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &[u8],
        (file, offset): (Arc<File>, u64),
    ) -> Poll<io::Result<usize>> {
        match ready!(self.poll_sendfile(cx, &file, offset, buffer.len())) {
            Ok(sent) if sent > 0 => Poll::Ready(Ok(sent)),
            // Nothing was sent: a short file, or an error of the file's (the socket's own
            // errors come back again from the write below).
            _ => Pin::new(&mut self.stream).poll_write(cx, buffer),
        }
    }
}

impl AsyncRead for ServedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buffer)
    }
}

impl AsyncWrite for ServedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        match file_behind(buffer) {
            Some(source) => self.get_mut().poll_write_from(cx, buffer, source),
            None => Pin::new(&mut self.stream).poll_write(cx, buffer),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let found = buffers
            .iter()
            .enumerate()
            .find_map(|(index, buffer)| Some((index, file_behind(buffer)?)));
        match found {
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, buffers),
            Some((0, source)) => this.poll_write_from(cx, &buffers[0], source),
            // What precedes the file's bytes goes first, held for them by MSG_MORE.
            Some((first, _)) => this.poll_send_more(cx, &buffers[..first]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
