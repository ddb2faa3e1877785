//! OTLP trace messages, read into borrowed views of the request bytes.
//!
//! Field numbers follow opentelemetry-proto (trace/v1, common/v1, resource/v1). Singular message
//! fields that occur twice are merged and scalar fields are last-one-wins, as protobuf parsers do.

use crate::wire::{check_depth, Reader, R, WT_I32, WT_I64, WT_LEN, WT_VARINT};

/// An ``AnyValue``; ``None`` when no oneof member is set.
#[derive(Debug)]
pub enum Val<'a> {
    None,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(Vec<Val<'a>>),
    KvList(Vec<(&'a str, Val<'a>)>),
    StrIndex(i32),
}

pub type Kv<'a> = (&'a str, Val<'a>);

pub fn any_value<'a>(buf: &'a [u8], v: &mut Val<'a>, depth: u32) -> R<()> {
    check_depth(depth)?;
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => *v = Val::Str(r.string()?),
            (2, WT_VARINT) => *v = Val::Bool(r.varint()? != 0),
            (3, WT_VARINT) => *v = Val::Int(r.varint()? as i64),
            (4, WT_I64) => *v = Val::Double(f64::from_bits(r.fixed64()?)),
            (5, WT_LEN) => {
                let b = r.bytes()?;
                if !matches!(v, Val::Array(_)) {
                    *v = Val::Array(Vec::new());
                }
                if let Val::Array(items) = v {
                    array_value(b, items, depth + 1)?;
                }
            }
            (6, WT_LEN) => {
                let b = r.bytes()?;
                if !matches!(v, Val::KvList(_)) {
                    *v = Val::KvList(Vec::new());
                }
                if let Val::KvList(items) = v {
                    kv_list(b, items, depth + 1)?;
                }
            }
            (7, WT_LEN) => *v = Val::Bytes(r.bytes()?),
            (8, WT_VARINT) => *v = Val::StrIndex(r.varint()? as i32),
            _ => r.skip(f, wt, depth)?,
        }
    }
    Ok(())
}

fn array_value<'a>(buf: &'a [u8], out: &mut Vec<Val<'a>>, depth: u32) -> R<()> {
    check_depth(depth)?;
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        if (f, wt) == (1, WT_LEN) {
            let b = r.bytes()?;
            let mut v = Val::None;
            any_value(b, &mut v, depth + 1)?;
            out.push(v);
        } else {
            r.skip(f, wt, depth)?;
        }
    }
    Ok(())
}

fn kv_list<'a>(buf: &'a [u8], out: &mut Vec<Kv<'a>>, depth: u32) -> R<()> {
    check_depth(depth)?;
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        if (f, wt) == (1, WT_LEN) {
            out.push(key_value(r.bytes()?, depth + 1)?);
        } else {
            r.skip(f, wt, depth)?;
        }
    }
    Ok(())
}

pub fn key_value(buf: &[u8], depth: u32) -> R<Kv<'_>> {
    check_depth(depth)?;
    let mut r = Reader::new(buf);
    let mut key = "";
    let mut val = Val::None;
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => key = r.string()?,
            (2, WT_LEN) => any_value(r.bytes()?, &mut val, depth + 1)?,
            _ => r.skip(f, wt, depth)?,
        }
    }
    Ok((key, val))
}

/// ``Resource``: attributes appended to ``attrs`` (a resource sent twice is merged).
pub fn resource<'a>(buf: &'a [u8], attrs: &mut Vec<Kv<'a>>) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => attrs.push(key_value(r.bytes()?, 3)?),
            (3, WT_LEN) => entity_ref(r.bytes()?)?,
            _ => r.skip(f, wt, 2)?,
        }
    }
    Ok(())
}

fn entity_ref(buf: &[u8]) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1..=4, WT_LEN) => {
                r.string()?;
            }
            _ => r.skip(f, wt, 3)?,
        }
    }
    Ok(())
}

/// ``InstrumentationScope``: only checked.
pub fn scope(buf: &[u8]) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1 | 2, WT_LEN) => {
                r.string()?;
            }
            (3, WT_LEN) => {
                key_value(r.bytes()?, 4)?;
            }
            _ => r.skip(f, wt, 3)?,
        }
    }
    Ok(())
}

#[derive(Default)]
pub struct Span<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_id: &'a [u8],
    pub name: &'a str,
    pub kind: i32,
    pub start: u64,
    pub end: u64,
    pub attrs: Vec<Kv<'a>>,
    pub links: Vec<(&'a [u8], &'a [u8])>,
    pub status_code: i32,
    pub status_message: &'a str,
}

pub fn span<'a>(buf: &'a [u8], s: &mut Span<'a>) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => s.trace_id = r.bytes()?,
            (2, WT_LEN) => s.span_id = r.bytes()?,
            (3, WT_LEN) => {
                r.string()?;
            }
            (4, WT_LEN) => s.parent_id = r.bytes()?,
            (5, WT_LEN) => s.name = r.string()?,
            (6, WT_VARINT) => s.kind = r.varint()? as i32,
            (7, WT_I64) => s.start = r.fixed64()?,
            (8, WT_I64) => s.end = r.fixed64()?,
            (9, WT_LEN) => s.attrs.push(key_value(r.bytes()?, 5)?),
            (11, WT_LEN) => event(r.bytes()?)?,
            (13, WT_LEN) => s.links.push(link(r.bytes()?)?),
            (15, WT_LEN) => status(r.bytes()?, s)?,
            (16, WT_I32) => {
                r.fixed32()?;
            }
            _ => r.skip(f, wt, 4)?,
        }
    }
    Ok(())
}

fn event(buf: &[u8]) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (2, WT_LEN) => {
                r.string()?;
            }
            (3, WT_LEN) => {
                key_value(r.bytes()?, 6)?;
            }
            _ => r.skip(f, wt, 5)?,
        }
    }
    Ok(())
}

fn link(buf: &[u8]) -> R<(&[u8], &[u8])> {
    let mut r = Reader::new(buf);
    let (mut t, mut s): (&[u8], &[u8]) = (&[], &[]);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => t = r.bytes()?,
            (2, WT_LEN) => s = r.bytes()?,
            (3, WT_LEN) => {
                r.string()?;
            }
            (4, WT_LEN) => {
                key_value(r.bytes()?, 6)?;
            }
            _ => r.skip(f, wt, 5)?,
        }
    }
    Ok((t, s))
}

fn status<'a>(buf: &'a [u8], s: &mut Span<'a>) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (2, WT_LEN) => s.status_message = r.string()?,
            (3, WT_VARINT) => s.status_code = r.varint()? as i32,
            _ => r.skip(f, wt, 5)?,
        }
    }
    Ok(())
}

/// ``ResourceSpans``: the resource parts and the ``ScopeSpans`` bodies, checked.
pub fn resource_spans<'a>(buf: &'a [u8], res: &mut Vec<&'a [u8]>, scopes: &mut Vec<&'a [u8]>) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => res.push(r.bytes()?),
            (2, WT_LEN) => scopes.push(r.bytes()?),
            (3, WT_LEN) => {
                r.string()?;
            }
            _ => r.skip(f, wt, 1)?,
        }
    }
    Ok(())
}

/// ``ScopeSpans``: the span bodies, the scope and schema URL checked.
pub fn scope_spans<'a>(buf: &'a [u8], spans: &mut Vec<&'a [u8]>) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        match (f, wt) {
            (1, WT_LEN) => scope(r.bytes()?)?,
            (2, WT_LEN) => spans.push(r.bytes()?),
            (3, WT_LEN) => {
                r.string()?;
            }
            _ => r.skip(f, wt, 2)?,
        }
    }
    Ok(())
}

/// ``ExportTraceServiceRequest``: the ``ResourceSpans`` bodies.
pub fn request<'a>(buf: &'a [u8], out: &mut Vec<&'a [u8]>) -> R<()> {
    let mut r = Reader::new(buf);
    while !r.done() {
        let (f, wt) = r.tag()?;
        if (f, wt) == (1, WT_LEN) {
            out.push(r.bytes()?);
        } else {
            r.skip(f, wt, 0)?;
        }
    }
    Ok(())
}
