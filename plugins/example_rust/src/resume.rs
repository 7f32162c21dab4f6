//! Finding where the NDJSON file's last complete block ends, reading it backwards from its end
//! (a file may be gigabytes; only its tail is read).

use std::io::{self, Read, Seek, SeekFrom};

/// The bytes read at once, going backwards.
pub const CHUNK: usize = 64 * 1024;

/// What [`recover`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The length to keep: the end of the last complete block (0: nothing to keep).
    pub keep: u64,
    /// The height to resume at; `None` when the file holds no complete line at all.
    pub resume: Option<u64>,
    /// Whether the cut removes whole lines of an incomplete block (not only a torn line).
    pub cut_block: bool,
}

/// An error naming the offending line, as `io::ErrorKind::InvalidData`.
fn invalid(start: u64, why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the line at byte {start} {why}"))
}

/// The `(is_block, block_height)` of one line written by this plugin:
/// `{"kind":"<Kind>","block_height":<N>,…`.
fn parse(line: &[u8], start: u64) -> io::Result<(bool, u64)> {
    let rest = line
        .strip_prefix(br#"{"kind":""#)
        .ok_or_else(|| invalid(start, "is not an event line of this plugin (it does not start with {\"kind\":\")"))?;
    let q = rest.iter().position(|&b| b == b'"').ok_or_else(|| invalid(start, "has no kind"))?;
    let kind = &rest[..q];
    let digits = rest[q..]
        .strip_prefix(br#"","block_height":"#)
        .ok_or_else(|| invalid(start, "has no block_height after its kind"))?;
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    let height = std::str::from_utf8(&digits[..n])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|_| n > 0 && matches!(digits.get(n), Some(b',' | b'}')))
        .ok_or_else(|| invalid(start, "has no valid block_height"))?;
    Ok((kind == b"Block", height))
}

/// Reads the lines of `f` backwards from `end` (which must follow a `\n`, or be 0).
struct RevLines<'a, F> {
    f: &'a mut F,
    /// Bytes before `pos` are not read yet.
    pos: u64,
    /// The bytes `[pos, pos + buf.len())`, ending with the `\n` of the next line to return.
    buf: Vec<u8>,
    chunk: usize,
}

impl<F: Read + Seek> RevLines<'_, F> {
    /// Prepends up to `chunk` bytes from before `pos`; false at the file's start.
    fn read_more(&mut self) -> io::Result<bool> {
        if self.pos == 0 {
            return Ok(false);
        }
        let n = self.chunk.min(usize::try_from(self.pos).unwrap_or(usize::MAX));
        self.pos -= n as u64;
        let mut more = vec![0u8; n];
        self.f.seek(SeekFrom::Start(self.pos))?;
        self.f.read_exact(&mut more)?;
        more.extend_from_slice(&self.buf);
        self.buf = more;
        Ok(true)
    }

    /// The last unread line without its `\n`, and its start offset.
    fn prev(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        if self.buf.is_empty() && !self.read_more()? {
            return Ok(None);
        }
        loop {
            let end = self.buf.len() - 1; // without the trailing \n
            if let Some(i) = self.buf[..end].iter().rposition(|&b| b == b'\n') {
                let line = self.buf[i + 1..end].to_vec();
                self.buf.truncate(i + 1);
                return Ok(Some((self.pos + i as u64 + 1, line)));
            }
            if !self.read_more()? {
                let line = self.buf[..end].to_vec();
                self.buf.clear();
                return Ok(Some((0, line)));
            }
        }
    }
}

/// Finds the end of the last complete block of the `len`-byte NDJSON file `f` (the rule is in
/// the crate docs), reading at most `chunk` bytes at once, backwards from the end.
pub fn recover<F: Read + Seek>(f: &mut F, len: u64, chunk: usize) -> io::Result<Recovered> {
    assert!(chunk > 0);
    // The torn tail: everything after the last \n.
    let mut lines = RevLines { f, pos: len, buf: Vec::new(), chunk };
    let complete = loop {
        if !lines.read_more()? {
            lines.buf.clear(); // no \n at all: the whole file is one torn line
            break 0;
        }
        if let Some(i) = lines.buf.iter().rposition(|&b| b == b'\n') {
            lines.buf.truncate(i + 1);
            break lines.pos + i as u64 + 1;
        }
    };
    let none = Recovered { keep: 0, resume: None, cut_block: false };
    let Some((start, line)) = lines.prev()? else { return Ok(none) };
    let (is_block, height) = parse(&line, start)?;
    if is_block {
        return Ok(Recovered { keep: complete, resume: Some(height.saturating_add(1)), cut_block: false });
    }
    // Block `height` may be incomplete: cut every trailing line of that height.
    let mut keep = start;
    while let Some((start, line)) = lines.prev()? {
        if parse(&line, start)?.1 != height {
            break;
        }
        keep = start;
    }
    Ok(Recovered { keep, resume: Some(height), cut_block: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn line(kind: &str, h: u64) -> String {
        format!("{{\"kind\":\"{kind}\",\"block_height\":{h},\"x\":\"00\"}}\n")
    }

    fn run(text: &str, chunk: usize) -> io::Result<Recovered> {
        recover(&mut Cursor::new(text.as_bytes()), text.len() as u64, chunk)
    }

    #[test]
    fn tails() {
        let b1 = format!("{}{}", line("MappingUpdate", 1), line("Block", 1));
        let b2 = format!("{}{}{}", line("MappingUpdate", 2), line("StakingReward", 2), line("Block", 2));
        let part3 = format!("{}{}", line("MappingUpdate", 3), line("MappingRemoval", 3));
        let whole = format!("{b1}{b2}");
        let rec = |keep: usize, resume: Option<u64>, cut_block| Recovered { keep: keep as u64, resume, cut_block };
        let cases: Vec<(&str, String, Recovered)> = vec![
            ("empty", String::new(), rec(0, None, false)),
            ("only a torn line", "{\"kind\":\"Blo".into(), rec(0, None, false)),
            ("whole blocks", whole.clone(), rec(whole.len(), Some(3), false)),
            ("torn line after a block", format!("{whole}{{\"kind\":\"Mapp"), rec(whole.len(), Some(3), false)),
            ("partial block", format!("{whole}{part3}"), rec(whole.len(), Some(3), true)),
            ("partial block and torn line", format!("{whole}{part3}{{\"ki"), rec(whole.len(), Some(3), true)),
            ("only a partial block", part3.clone(), rec(0, Some(3), true)),
            // Not subscribed to Block: a height change ends a block; the last one is cut.
            (
                "no Block events",
                format!(
                    "{}{}{}{}",
                    line("MappingUpdate", 5),
                    line("MappingUpdate", 5),
                    line("MappingUpdate", 9),
                    line("StakingReward", 9)
                ),
                rec(2 * line("MappingUpdate", 5).len(), Some(9), true),
            ),
            (
                "height 0 and u64::MAX",
                format!("{}{}", line("Block", 0), line("Block", u64::MAX)),
                rec(2 * line("Block", 0).len() + 19, Some(u64::MAX), false),
            ),
        ];
        for (name, text, want) in cases {
            for chunk in [1, 2, 7, 64, CHUNK] {
                assert_eq!(run(&text, chunk).unwrap(), want, "{name}, chunk {chunk}");
            }
        }
    }

    #[test]
    fn a_block_longer_than_many_chunks_is_cut_whole() {
        let mut text = line("Block", 41);
        let keep = text.len();
        for _ in 0..5000 {
            text.push_str(&line("MappingUpdate", 42));
        }
        text.push_str("{\"kind\":\"MappingUpd"); // torn
        for chunk in [100, 4096, CHUNK] {
            assert_eq!(
                run(&text, chunk).unwrap(),
                Recovered { keep: keep as u64, resume: Some(42), cut_block: true },
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn foreign_lines_are_errors() {
        for (text, needle) in [
            ("hello\n", "not an event line"),
            ("{\"kind\":\"Block\"}\n", "no block_height"),
            ("{\"kind\":\"Block\",\"block_height\":x}\n", "no valid block_height"),
            ("{\"kind\":\"Block\",\"block_height\":99999999999999999999}\n", "no valid block_height"),
            ("{\"kind\":\"Block\",\"block_height\":}\n", "no valid block_height"),
        ] {
            let err = run(text, CHUNK).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains(needle) && err.to_string().contains("byte 0"), "{text}: {err}");
        }
        // Before the trailing block: the line that ends the scan must be ours too.
        let text = format!("garbage\n{}", line("MappingUpdate", 3));
        assert!(run(&text, CHUNK).unwrap_err().to_string().contains("byte 0"));
    }
}
