//! Package archives as content-addressed blobs under `--data`: `blobs/<2 hex>/<64 hex>`,
//! named by the blake3 of their bytes. An upload streams into `tmp/`, hashing as it
//! goes, and is moved into place only when its checksum is the one announced; anything
//! else is removed, so a refused upload leaves nothing behind.

use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::body::{Body, HttpBody};
use tokio::io::AsyncWriteExt;

/// The largest archive accepted: 512 MiB.
pub const MAX_SIZE: u64 = 512 << 20;

/// Make the folders; remove what an interrupted upload left in `tmp/`.
pub fn prepare(data: &Path) -> anyhow::Result<()> {
    for d in ["blobs", "tmp"] {
        let p = data.join(d);
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
    }
    if let Ok(rd) = std::fs::read_dir(data.join("tmp")) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// Whether `s` is a blake3 checksum as the registry writes it: 64 lowercase hex digits.
pub fn is_checksum(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where blob `checksum` (checked by [`is_checksum`]) lives.
pub fn path(data: &Path, checksum: &str) -> PathBuf {
    data.join("blobs").join(&checksum[..2]).join(checksum)
}

/// Why an upload's bytes were refused.
#[derive(Debug)]
pub enum Refused {
    /// The body ended before `expected` bytes (Content-Length or `size`).
    Truncated {
        got: u64,
        expected: u64,
    },
    TooBig,
    Mismatch {
        got: String,
    },
    /// The connection failed while reading.
    Read(String),
}

/// Stream `body` into a temporary file; keep it as a blob only when its blake3 is
/// `checksum` and its size `size` (when given). Returns the size stored.
pub async fn receive(
    data: &Path,
    body: Body,
    checksum: &str,
    size: Option<u64>,
) -> anyhow::Result<Result<u64, Refused>> {
    let mut tmp_name = [0u8; 8];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")?.read_exact(&mut tmp_name)?;
    }
    let tmp = data.join("tmp").join(format!(
        "up-{}",
        tmp_name
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let out = receive_into(&tmp, body, checksum, size).await;
    if !matches!(out, Ok(Ok(_))) {
        let _ = tokio::fs::remove_file(&tmp).await;
        return out;
    }
    let dest = path(data, checksum);
    let parent = dest.parent().context("blob path")?;
    tokio::fs::create_dir_all(parent).await?;
    tokio::fs::rename(&tmp, &dest)
        .await
        .with_context(|| format!("cannot store {}", dest.display()))?;
    out
}

/// Read and drop a request body, up to [`MAX_SIZE`] bytes: what a refusal does before it
/// answers, so that the client, still sending, reads the answer instead of a reset.
pub async fn discard(body: Body) {
    let mut body = body;
    let mut got: u64 = 0;
    while got <= MAX_SIZE {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            Some(Ok(f)) => got += f.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

async fn receive_into(
    tmp: &Path,
    body: Body,
    checksum: &str,
    size: Option<u64>,
) -> anyhow::Result<Result<u64, Refused>> {
    let mut f = tokio::fs::File::create(tmp)
        .await
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut got: u64 = 0;
    let mut body = body;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let chunk = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            // hyper reports a body shorter than its Content-Length as an error.
            Err(e) => {
                return Ok(Err(match size {
                    Some(expected) => Refused::Truncated { got, expected },
                    None => Refused::Read(e.to_string()),
                }));
            }
        };
        got += chunk.len() as u64;
        if got > MAX_SIZE || size.is_some_and(|s| got > s) {
            return Ok(Err(Refused::TooBig));
        }
        hasher.update(&chunk);
        f.write_all(&chunk).await?;
    }
    if let Some(expected) = size
        && got != expected
    {
        return Ok(Err(Refused::Truncated { got, expected }));
    }
    let hex = hasher.finalize().to_hex().to_string();
    if hex != checksum {
        return Ok(Err(Refused::Mismatch { got: hex }));
    }
    f.sync_all().await?;
    Ok(Ok(got))
}
