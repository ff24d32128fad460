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
//! Why frames start on a multiple of [`ALIGN`]: the repository cuts streams into chunks of
//! exactly that size (a fixed-size chunker, which costs nothing per byte, where a rolling hash
//! cost a tenth of a backup's CPU). A chunk then never spans two frames, so an unchanged frame
//! is stored as the same chunks however the frames before it changed. The gap after each frame
//! but the last is filled by a zstd *skippable frame* of zeros, which every zstd decoder steps
//! over and the repository's own compression shrinks to nothing.
//!
//! A stream is a plain concatenation of zstd frames, each carrying its content size and a
//! checksum of its content, so `zstd -d` reads it without lifeboat.

use std::io::{self, Write};

use zstd::zstd_safe::CParameter;

/// The suffix of a stream name stored this way; readers decode by it.
pub const SUFFIX: &str = ".zst";

/// Every frame but the first starts at a multiple of this many bytes of the stream. It must
/// equal the repository's chunk size (`lifeboat_repo::CHUNK_SIZE`; the engine checks).
pub const ALIGN: usize = 256 << 10;

/// zstd level 2: on COPY text cut into frames no larger than level 3 (411 vs 413 MB for the
/// mixed benchmark table) and faster; level 1 came within 0.5% of `pg_dump -Fc`'s size there.
const LEVEL: i32 = 2;
/// A frame is cut after the first unit that completes at least this many bytes ...
const MIN_FRAME: usize = 2 << 20;
/// ... whose hash picks it, so that frames hold MIN_FRAME + about this many bytes on average
/// (large enough that the alignment gap, half of ALIGN on average, stays small next to a frame
/// of typical table data) ...
const MEAN_TAIL: u64 = 2 << 20;
/// ... and never grows past this, whatever the hashes say (a single larger unit is one frame).
const MAX_FRAME: usize = 12 << 20;

/// The first bytes of a zstd skippable frame (any of 0x184D2A50..=0x184D2A5F, little-endian),
/// followed by the length of its content as a little-endian u32.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
const SKIPPABLE_HEADER: usize = 8;

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
    /// Bytes of the stream produced so far, handed out or not; every frame adds some, so this
    /// is 0 exactly until the first frame is sealed.
    produced: u64,
}

impl FrameEncoder {
    pub fn new() -> io::Result<Self> {
        let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
        compressor.set_parameter(CParameter::ChecksumFlag(true))?;
        compressor.set_parameter(CParameter::ContentSizeFlag(true))?;
        Ok(Self { compressor, frame: Vec::with_capacity(MIN_FRAME + MEAN_TAIL as usize), out: Vec::new(), handed_out: 0, produced: 0 })
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
        if !self.frame.is_empty() || self.produced == 0 {
            self.seal()?;
        }
        Ok(())
    }

    fn seal(&mut self) -> io::Result<()> {
        if self.handed_out == self.out.len() {
            self.out.clear();
            self.handed_out = 0;
        }
        if self.produced > 0 {
            self.pad_to_alignment();
        }
        let compressed = self.compressor.compress(&self.frame)?;
        self.emit(&compressed);
        self.frame.clear();
        Ok(())
    }

    /// Fills the stream with a skippable frame up to the next multiple of [`ALIGN`].
    fn pad_to_alignment(&mut self) {
        let misalignment = (self.produced % ALIGN as u64) as usize;
        if misalignment == 0 {
            return;
        }
        let mut gap = ALIGN - misalignment;
        if gap < SKIPPABLE_HEADER {
            gap += ALIGN;
        }
        let content = u32::try_from(gap - SKIPPABLE_HEADER).expect("ALIGN fits in u32");
        let mut padding = vec![0; gap];
        padding[..4].copy_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        padding[4..8].copy_from_slice(&content.to_le_bytes());
        self.emit(&padding);
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.produced += bytes.len() as u64;
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
        range
            .map(|i| format!("{i}\t{:x}\tsome text that repeats a little\n", u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)).into_bytes())
            .collect()
    }

    /// The data frames of a stream (skippable frames left out), each with its offset.
    fn frames_at(stored: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut offset = 0;
        while offset < stored.len() {
            let rest = &stored[offset..];
            let len = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
            if u32::from_le_bytes(rest[..4].try_into().unwrap()) != SKIPPABLE_MAGIC {
                frames.push((offset, rest[..len].to_vec()));
            }
            offset += len;
        }
        frames
    }

    fn frames(stored: &[u8]) -> Vec<Vec<u8>> {
        frames_at(stored).into_iter().map(|(_, frame)| frame).collect()
    }

    #[test]
    fn frames_round_trip_and_decode_with_zstd_itself() {
        let units = rows(0..600_000);
        let stored = encode(&units);
        assert!(frames(&stored).len() > 3, "a stream of {} bytes should be several frames", units.concat().len());
        assert_eq!(decode(&stored).unwrap(), units.concat());
        assert_eq!(zstd::stream::decode_all(&stored[..]).unwrap(), units.concat());
    }

    #[test]
    fn a_changed_row_changes_only_its_own_frame() {
        let before = rows(0..600_000);
        let mut after = before.clone();
        after[100_000] = b"100000\tchanged\n".to_vec();
        let (old, new) = (frames(&encode(&before)), frames(&encode(&after)));
        let unchanged = new.iter().filter(|f| old.contains(f)).count();
        assert!(new.len() > 4 && unchanged + 2 >= new.len(), "{unchanged} of {} frames survived one changed row", new.len());
    }

    #[test]
    fn every_frame_but_the_first_starts_on_a_chunk_boundary() {
        let stored = encode(&rows(0..600_000));
        let starts: Vec<usize> = frames_at(&stored).iter().map(|(offset, _)| *offset).collect();
        assert!(starts.len() > 3);
        assert!(starts.iter().all(|s| s % ALIGN == 0), "frames start at {starts:?}");
        let last = *starts.last().unwrap();
        assert_eq!(
            zstd::zstd_safe::find_frame_compressed_size(&stored[last..]).unwrap(),
            stored.len() - last,
            "no gap after the last frame"
        );

        // The gaps are skippable frames to the zstd command too (the escape hatch in README.md).
        let mut zstd = std::process::Command::new("zstd")
            .arg("-dcq")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("zstd is installed by scripts/setup");
        let mut stdin = zstd.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&stored));
        let out = zstd.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, rows(0..600_000).concat());
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
