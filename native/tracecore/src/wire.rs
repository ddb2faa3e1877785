//! A protobuf wire-format reader for the OTLP trace messages TraceCore reads.
//!
//! It is deliberately *stricter* than the reference parser (upb, behind
//! `ExportTraceServiceRequest.ParseFromString`), never looser: every string field of every message
//! in the request is checked for UTF-8, unknown fields are skipped structurally (groups included),
//! and anything odd is an error. On any error the Python side re-parses the same bytes with the
//! reference parser, so a malformed request gets exactly the reference error, and a request the
//! reference accepts but this reader does not (it should not happen) still decodes correctly.

pub type R<T> = Result<T, ()>;

pub const WT_VARINT: u8 = 0;
pub const WT_I64: u8 = 1;
pub const WT_LEN: u8 = 2;
pub const WT_SGROUP: u8 = 3;
pub const WT_EGROUP: u8 = 4;
pub const WT_I32: u8 = 5;

const MAX_DEPTH: u32 = 64;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    pub fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub fn varint(&mut self) -> R<u64> {
        let mut out: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = *self.buf.get(self.pos).ok_or(())?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(()); // more than 64 bits: stricter than needed, never looser
            }
            out |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(out);
            }
            shift += 7;
            if shift > 63 {
                return Err(());
            }
        }
    }

    /// (field number, wire type); field 0, numbers past 2^29-1 and wire types 6/7 are errors.
    #[inline]
    pub fn tag(&mut self) -> R<(u32, u8)> {
        let t = self.varint()?;
        if t > u64::from(u32::MAX) {
            return Err(());
        }
        let field = (t >> 3) as u32;
        let wt = (t & 7) as u8;
        if field == 0 || wt > 5 {
            return Err(());
        }
        Ok((field, wt))
    }

    #[inline]
    pub fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| ())?;
        let end = self.pos.checked_add(n).ok_or(())?;
        if end > self.buf.len() {
            return Err(());
        }
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    #[inline]
    pub fn string(&mut self) -> R<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| ())
    }

    #[inline]
    pub fn fixed64(&mut self) -> R<u64> {
        let end = self.pos.checked_add(8).ok_or(())?;
        let s = self.buf.get(self.pos..end).ok_or(())?;
        self.pos = end;
        Ok(u64::from_le_bytes(s.try_into().map_err(|_| ())?))
    }

    #[inline]
    pub fn fixed32(&mut self) -> R<u32> {
        let end = self.pos.checked_add(4).ok_or(())?;
        let s = self.buf.get(self.pos..end).ok_or(())?;
        self.pos = end;
        Ok(u32::from_le_bytes(s.try_into().map_err(|_| ())?))
    }

    /// Skip the value of an unknown field (or a known one sent with an unexpected wire type).
    pub fn skip(&mut self, field: u32, wt: u8, depth: u32) -> R<()> {
        match wt {
            WT_VARINT => {
                self.varint()?;
            }
            WT_I64 => {
                self.fixed64()?;
            }
            WT_LEN => {
                self.bytes()?;
            }
            WT_I32 => {
                self.fixed32()?;
            }
            WT_SGROUP => {
                if depth >= MAX_DEPTH {
                    return Err(());
                }
                loop {
                    let (f, w) = self.tag()?;
                    if w == WT_EGROUP {
                        if f != field {
                            return Err(());
                        }
                        break;
                    }
                    self.skip(f, w, depth + 1)?;
                }
            }
            _ => return Err(()), // a stray end-group
        }
        Ok(())
    }
}

pub fn check_depth(depth: u32) -> R<()> {
    if depth >= MAX_DEPTH {
        Err(())
    } else {
        Ok(())
    }
}
