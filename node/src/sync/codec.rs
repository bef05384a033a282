//! The framing of sync messages on a request-response stream: a 4-byte
//! big-endian length, then the message, refused over [`MAX_MESSAGE_BYTES`]
//! before anything is allocated.

use std::io;

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{request_response, StreamProtocol};
use mutua_protocol::sync::MAX_MESSAGE_BYTES;

/// Bytes of the length prefix of a frame.
const LENGTH_BYTES: usize = 4;

/// Frames a sync message: a 4-byte big-endian length, then the message.
/// A length over [`MAX_MESSAGE_BYTES`] is refused before anything is
/// allocated: a response fails with `InvalidData`, a request becomes
/// [`Frame::TooLarge`] (libp2p drops errors reading a request without telling
/// the behaviour, and the actor must learn of it to cut the peer off).
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncCodec;

/// A request as read from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Message(Vec<u8>),
    /// A request announcing this many bytes, over [`MAX_MESSAGE_BYTES`]: not read.
    TooLarge(usize),
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Frame> {
    let mut length = [0; LENGTH_BYTES];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_MESSAGE_BYTES {
        return Ok(Frame::TooLarge(length));
    }
    let mut message = vec![0; length];
    io.read_exact(&mut message).await?;
    Ok(Frame::Message(message))
}

pub(super) fn too_large(size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a sync message of {size} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
    )
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len())
        .ok()
        .filter(|l| *l as usize <= MAX_MESSAGE_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "sync message too large"))?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(message).await?;
    io.flush().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Frame> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        match read_frame(io).await? {
            Frame::Message(message) => Ok(message),
            Frame::TooLarge(size) => Err(too_large(size)),
        }
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Frame,
    ) -> io::Result<()> {
        match request {
            Frame::Message(message) => write_frame(io, &message).await,
            Frame::TooLarge(size) => Err(too_large(size)),
        }
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_over_the_limit_are_refused_before_reading_them() {
        let mut bytes = ((MAX_MESSAGE_BYTES + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"whatever follows");
        let mut io = libp2p::futures::io::Cursor::new(bytes);
        let frame = read_frame(&mut io).await.unwrap();
        assert_eq!(frame, Frame::TooLarge(MAX_MESSAGE_BYTES + 1));

        let mut framed = libp2p::futures::io::Cursor::new(Vec::new());
        write_frame(&mut framed, b"hello").await.unwrap();
        let mut io = libp2p::futures::io::Cursor::new(framed.into_inner());
        assert_eq!(
            read_frame(&mut io).await.unwrap(),
            Frame::Message(b"hello".to_vec())
        );
    }
}
