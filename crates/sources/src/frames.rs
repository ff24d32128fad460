//! Data streams stored as zstd frames cut where their content says.
//!
//! Why compress before the repository does: the repository (restic's format) cuts every
//! stream into chunks with a rolling hash and names each chunk by its SHA-256, and we keep a
//! SHA-256 per stream on top. On a CPU without SHA instructions those passes cost more than
//! the database spends producing the data. COPY text shrinks 2-100x under zstd, so
//! compressing first makes every later pass that much shorter; the repository's own zstd then
//! finds little left to gain and costs little.
//!
//! Why many frames, cut by content: deduplication between backups works on the bytes the
//! repository sees. One zstd stream over a whole part would differ from the first changed row
//! to its end. Independent frames differ only where their input did, provided the frame
//! boundaries stay put when rows before them change. So a frame ends after a unit (a row)
//! whose hash says so, the way a rolling-hash chunker picks its cut points, not after a fixed
//! number of bytes: a changed row moves the boundaries of its own frame only.
//!
//! A stream is a plain concatenation of zstd frames, each carrying its content size and a
//! checksum of its content, so `zstd -d` reads it without lifeboat.

use std::io::{self, Write};

use zstd::zstd_safe::CParameter;

/// The suffix of a stream name stored this way; readers decode by it.
pub const SUFFIX: &str = ".zst";

/// zstd level 2: on COPY text cut into frames no larger than level 3 (411 vs 413 MB for the
/// mixed benchmark table) and faster; level 1 came within 0.5% of `pg_dump -Fc`'s size there.
const LEVEL: i32 = 2;
/// A frame is cut after the first unit that completes at least this many bytes ...
const MIN_FRAME: usize = 1 << 20;
/// ... whose hash picks it, so that frames hold MIN_FRAME + about this many bytes on average ...
const MEAN_TAIL: u64 = 1 << 20;
/// ... and never grows past this, whatever the hashes say (a single larger unit is one frame).
const MAX_FRAME: usize = 8 << 20;

/// Whether a frame of `frame_len` bytes that just took a unit of `unit_len` bytes with hash
/// `hash` ends here. Each byte of a unit past the minimum ends the frame with probability
/// 1/MEAN_TAIL, so the cut depends on the content near it and not on where the frame began.
fn cut_after(frame_len: usize, unit_len: usize, hash: u64) -> bool {
    frame_len >= MAX_FRAME || (frame_len >= MIN_FRAME && hash % MEAN_TAIL < unit_len as u64)
}

/// Compresses units (rows with their line ends) into frames and queues the compressed bytes.
pub struct FrameEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    frame: Vec<u8>,
    out: Vec<u8>,
    handed_out: usize,
    sealed_any: bool,
}

impl FrameEncoder {
    pub fn new() -> io::Result<Self> {
        let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
        compressor.set_parameter(CParameter::ChecksumFlag(true))?;
        compressor.set_parameter(CParameter::ContentSizeFlag(true))?;
        Ok(Self { compressor, frame: Vec::with_capacity(MIN_FRAME + MEAN_TAIL as usize), out: Vec::new(), handed_out: 0, sealed_any: false })
    }

    /// Adds one unit; `hash` is any well-mixed hash of its content.
    pub fn push(&mut self, unit: &[u8], hash: u64) -> io::Result<()> {
        self.frame.extend_from_slice(unit);
        if cut_after(self.frame.len(), unit.len(), hash) {
            self.seal()?;
        }
        Ok(())
    }

    /// Ends the last frame; call once, after the last unit. A stream without units still gets
    /// one (empty) frame, so every stream is a valid zstd file.
    pub fn finish(&mut self) -> io::Result<()> {
        if !self.frame.is_empty() || !self.sealed_any {
            self.seal()?;
        }
        Ok(())
    }

    fn seal(&mut self) -> io::Result<()> {
        if self.handed_out == self.out.len() {
            self.out.clear();
            self.handed_out = 0;
        }
        let compressed = self.compressor.compress(&self.frame)?;
        self.out.extend_from_slice(&compressed);
        self.frame.clear();
        self.sealed_any = true;
        Ok(())
    }

    /// Whether compressed bytes wait to be handed out.
    pub fn has_output(&self) -> bool {
        self.handed_out < self.out.len()
    }

    /// Moves waiting compressed bytes into `buf`; returns how many.
    pub fn take_output(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.out.len() - self.handed_out);
        buf[..n].copy_from_slice(&self.out[self.handed_out..self.handed_out + n]);
        self.handed_out += n;
        n
    }
}

/// A writer that takes a stream as stored and writes its content to `out`: decoded when the
/// stream's name ends in [`SUFFIX`], unchanged otherwise (streams of older backups, DDL).
/// Call `flush` after the last byte: it reports a stream that ended inside a frame.
pub fn decoding_writer<'a>(name: &str, out: &'a mut dyn Write) -> io::Result<Box<dyn Write + 'a>> {
    if name.ends_with(SUFFIX) {
        Ok(Box::new(FrameDecoder { inner: zstd::stream::write::Decoder::new(out)?, empty: true }))
    } else {
        Ok(Box::new(out))
    }
}

/// zstd's decoder, whose `flush` ends the stream: it reports a truncated last frame, and
/// takes an empty stream as empty content.
struct FrameDecoder<'a> {
    inner: zstd::stream::write::Decoder<'static, &'a mut dyn Write>,
    empty: bool,
}

impl Write for FrameDecoder<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.empty &= buf.is_empty();
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.empty {
            self.inner.do_finish()?;
        }
        self.inner.get_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(units: &[Vec<u8>]) -> Vec<u8> {
        let mut encoder = FrameEncoder::new().unwrap();
        let mut out = Vec::new();
        for unit in units {
            encoder.push(unit, xxhash_rust::xxh3::xxh3_64(unit)).unwrap();
        }
        encoder.finish().unwrap();
        let mut buf = [0; 4096];
        while encoder.has_output() {
            let n = encoder.take_output(&mut buf);
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    fn decode(stored: &[u8]) -> io::Result<Vec<u8>> {
        let mut content = Vec::new();
        let mut writer = decoding_writer("t.zst", &mut content)?;
        writer.write_all(stored)?;
        writer.flush()?;
        drop(writer);
        Ok(content)
    }

    fn rows(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        range.map(|i| format!("{i}\t{:x}\tsome text that repeats a little\n", u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)).into_bytes()).collect()
    }

    /// The frames of a stream, as (offset, length) of each.
    fn frames(stored: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut rest = stored;
        while !rest.is_empty() {
            let len = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
            frames.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
        frames
    }

    #[test]
    fn frames_round_trip_and_decode_with_zstd_itself() {
        let units = rows(0..200_000);
        let stored = encode(&units);
        assert!(frames(&stored).len() > 3, "a stream of {} bytes should be several frames", units.concat().len());
        assert_eq!(decode(&stored).unwrap(), units.concat());
        assert_eq!(zstd::stream::decode_all(&stored[..]).unwrap(), units.concat());
    }

    #[test]
    fn a_changed_row_changes_only_its_own_frame() {
        let before = rows(0..200_000);
        let mut after = before.clone();
        after[100_000] = b"100000\tchanged\n".to_vec();
        let (old, new) = (frames(&encode(&before)), frames(&encode(&after)));
        let unchanged = new.iter().filter(|f| old.contains(f)).count();
        assert!(unchanged + 2 >= new.len(), "{unchanged} of {} frames survived one changed row", new.len());
    }

    #[test]
    fn an_empty_table_is_one_empty_frame() {
        let stored = encode(&[]);
        assert_eq!(frames(&stored).len(), 1);
        assert_eq!(decode(&stored).unwrap(), b"");
        assert_eq!(decode(b"").unwrap(), b"", "an empty stream decodes to nothing");
    }

    #[test]
    fn a_truncated_stream_is_an_error() {
        let stored = encode(&rows(0..1000));
        assert!(decode(&stored[..stored.len() - 3]).is_err());
    }

    #[test]
    fn other_streams_pass_unchanged() {
        let mut content = Vec::new();
        decoding_writer("ddl/pre-data.sql", &mut content).unwrap().write_all(b"CREATE TABLE t ();").unwrap();
        assert_eq!(content, b"CREATE TABLE t ();");
    }
}
