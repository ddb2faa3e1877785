//! Span blocks, the bus wire form of span batches: `airdig/tracecore/spanblock.py` is the reference
//! (layout in its docstring). The writer must produce the reference's bytes for every batch it takes;
//! it answers "unfit" (the caller publishes JSON) for anything the reference answers None for. The
//! reader must give the reference's spans for every block the reference accepts; it answers None for
//! anything it does not like, and the reference then reads the same bytes (and raises its own error).

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::fastnew::SlotMaker;

pub const MAGIC: &[u8] = b"\x00ADSB\x01";
const MAX_DEPTH: u32 = 64;

pub struct Names {
    trace_id: Py<PyString>,
    span_id: Py<PyString>,
    parent_id: Py<PyString>,
    kind: Py<PyString>,
    name: Py<PyString>,
    start_ns: Py<PyString>,
    end_ns: Py<PyString>,
    status: Py<PyString>,
    resource: Py<PyString>,
    attrs: Py<PyString>,
    links: Py<PyString>,
    status_message: Py<PyString>,
    service: Py<PyString>,
    namespace: Py<PyString>,
}

impl Names {
    pub fn new(py: Python<'_>) -> Self {
        let i = |s: &str| PyString::intern(py, s).unbind();
        Names {
            trace_id: i("trace_id"), span_id: i("span_id"), parent_id: i("parent_id"), kind: i("kind"),
            name: i("name"), start_ns: i("start_ns"), end_ns: i("end_ns"), status: i("status"),
            resource: i("resource"), attrs: i("attrs"), links: i("links"), status_message: i("status_message"),
            service: i("service"), namespace: i("namespace"),
        }
    }
}

pub struct Codec {
    pub names: Names,
    pub span: SlotMaker,
    pub resource_fn: Py<PyAny>, // spans._resource(wire, cache): the reference's resource sharing
    /// Short strings seen in blocks (span names, attribute keys, services...), so a record does not
    /// allocate them again; bounded, cleared when full.
    pub strings: std::sync::Mutex<HashMap<Vec<u8>, Py<PyString>>>,
}

const STRING_CACHE: usize = 8192;
const CACHED_LEN: usize = 96;

struct Unfit;
type U<T> = Result<T, Unfit>;

fn hex_id<const N: usize>(v: &Bound<'_, PyAny>) -> U<[u8; N]> {
    let s = v.cast::<PyString>().map_err(|_| Unfit)?;
    if !s.is_exact_instance_of::<PyString>() {
        return Err(Unfit);
    }
    let t = s.to_str().map_err(|_| Unfit)?.as_bytes();
    if t.len() != 2 * N {
        return Err(Unfit);
    }
    let mut out = [0u8; N];
    for i in 0..N {
        let d = |c: u8| -> U<u8> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(Unfit),
            }
        };
        out[i] = (d(t[2 * i])? << 4) | d(t[2 * i + 1])?;
    }
    Ok(out)
}

fn exact_str<'py>(v: &Bound<'py, PyAny>) -> U<Bound<'py, PyString>> {
    match v.cast::<PyString>() {
        Ok(s) if s.is_exact_instance_of::<PyString>() => Ok(s.clone()),
        _ => Err(Unfit),
    }
}

fn exact_i64(v: &Bound<'_, PyAny>) -> U<i64> {
    if !v.is_exact_instance_of::<PyInt>() {
        return Err(Unfit);
    }
    v.extract::<i64>().map_err(|_| Unfit)
}

/// One span's fixed fields, read once (a span linked to other traces is written into several blocks).
struct Fixed<'py> {
    tid: [u8; 16],
    sid: [u8; 8],
    pid: Option<[u8; 8]>,
    kind: i32,
    status: i32,
    start: u64,
    end: u64,
    resource: Bound<'py, PyAny>,
    name: Bound<'py, PyAny>,
    msg: Bound<'py, PyAny>,
    attrs: Bound<'py, PyDict>,
    links: Vec<([u8; 16], [u8; 8])>,
}

struct Writer {
    strings: HashMap<String, u32>,
    order: Vec<String>,
}

impl Writer {
    fn s(&mut self, v: &Bound<'_, PyAny>) -> U<u32> {
        let owned = exact_str(v)?;
        let t = owned.to_str().map_err(|_| Unfit)?;
        if let Some(&i) = self.strings.get(t) {
            return Ok(i);
        }
        let i = self.order.len() as u32;
        self.strings.insert(t.to_owned(), i);
        self.order.push(t.to_owned());
        Ok(i)
    }

    fn value(&mut self, v: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> U<()> {
        if v.is_none() {
            out.push(0);
        } else if v.is_exact_instance_of::<PyString>() {
            out.push(1);
            let i = self.s(v)?;
            out.extend_from_slice(&i.to_le_bytes());
        } else if v.is_exact_instance_of::<PyBool>() {
            out.push(if v.is_truthy().map_err(|_| Unfit)? { 5 } else { 4 });
        } else if v.is_exact_instance_of::<PyInt>() {
            let i: i64 = v.extract().map_err(|_| Unfit)?;
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        } else if v.is_exact_instance_of::<PyFloat>() {
            let f: f64 = v.extract().map_err(|_| Unfit)?;
            out.push(3);
            out.extend_from_slice(&f.to_le_bytes());
        } else if v.is_exact_instance_of::<PyList>() {
            let l = v.cast::<PyList>().map_err(|_| Unfit)?;
            out.push(6);
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            for x in l.iter() {
                self.value(&x, out)?;
            }
        } else if v.is_exact_instance_of::<PyDict>() {
            out.push(7);
            self.mapping(v.cast::<PyDict>().map_err(|_| Unfit)?, out)?;
        } else {
            return Err(Unfit);
        }
        Ok(())
    }

    fn mapping(&mut self, d: &Bound<'_, PyDict>, out: &mut Vec<u8>) -> U<()> {
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        for (k, v) in d.iter() {
            let i = self.s(&k)?;
            out.extend_from_slice(&i.to_le_bytes());
            self.value(&v, out)?;
        }
        Ok(())
    }
}

impl Codec {
    fn fixed<'py>(&self, py: Python<'py>, s: &Bound<'py, PyAny>) -> U<Fixed<'py>> {
        let nm = &self.names;
        let g = |n: &Py<PyString>| s.getattr(n.bind(py)).map_err(|_| Unfit);
        let pid_v = g(&nm.parent_id)?;
        let pid = if exact_str(&pid_v)?.to_str().map_err(|_| Unfit)?.is_empty() { None } else { Some(hex_id::<8>(&pid_v)?) };
        let kind = i32::try_from(exact_i64(&g(&nm.kind)?)?).map_err(|_| Unfit)?;
        let status = i32::try_from(exact_i64(&g(&nm.status)?)?).map_err(|_| Unfit)?;
        let start_v = g(&nm.start_ns)?;
        let end_v = g(&nm.end_ns)?;
        if !start_v.is_exact_instance_of::<PyInt>() || !end_v.is_exact_instance_of::<PyInt>() {
            return Err(Unfit);
        }
        let start: u64 = start_v.extract().map_err(|_| Unfit)?;
        let end: u64 = end_v.extract().map_err(|_| Unfit)?;
        let attrs_v = g(&nm.attrs)?;
        if !attrs_v.is_exact_instance_of::<PyDict>() {
            return Err(Unfit);
        }
        let links_v = g(&nm.links)?;
        if !links_v.is_exact_instance_of::<PyTuple>() {
            return Err(Unfit);
        }
        let mut links = Vec::new();
        for ln in links_v.cast::<PyTuple>().map_err(|_| Unfit)?.iter() {
            if !ln.is_exact_instance_of::<PyTuple>() {
                return Err(Unfit);
            }
            let t = ln.cast::<PyTuple>().map_err(|_| Unfit)?;
            if t.len() != 2 {
                return Err(Unfit);
            }
            links.push((hex_id::<16>(&t.get_item(0).map_err(|_| Unfit)?)?, hex_id::<8>(&t.get_item(1).map_err(|_| Unfit)?)?));
        }
        Ok(Fixed {
            tid: hex_id::<16>(&g(&nm.trace_id)?)?,
            sid: hex_id::<8>(&g(&nm.span_id)?)?,
            pid,
            kind,
            status,
            start,
            end,
            resource: g(&nm.resource)?,
            name: g(&nm.name)?,
            msg: g(&nm.status_message)?,
            attrs: attrs_v.cast_into::<PyDict>().map_err(|_| Unfit)?,
            links,
        })
    }

    fn block(&self, py: Python<'_>, spans: &[&Fixed<'_>]) -> U<Vec<u8>> {
        let nm = &self.names;
        let mut w = Writer { strings: HashMap::new(), order: Vec::new() };
        let mut res_index: Vec<*mut pyo3::ffi::PyObject> = Vec::new();
        let mut res_bytes = Vec::new();
        for s in spans {
            let ptr = s.resource.as_ptr();
            if !res_index.contains(&ptr) {
                res_index.push(ptr);
                let r = &s.resource;
                let i = w.s(&r.getattr(nm.service.bind(py)).map_err(|_| Unfit)?)?;
                res_bytes.extend_from_slice(&i.to_le_bytes());
                let i = w.s(&r.getattr(nm.namespace.bind(py)).map_err(|_| Unfit)?)?;
                res_bytes.extend_from_slice(&i.to_le_bytes());
                let a = r.getattr(nm.attrs.bind(py)).map_err(|_| Unfit)?;
                if !a.is_exact_instance_of::<PyDict>() {
                    return Err(Unfit);
                }
                w.mapping(a.cast::<PyDict>().map_err(|_| Unfit)?, &mut res_bytes)?;
            }
        }
        let n = spans.len();
        let (mut names, mut msgs, mut nattrs, mut nlinks) = (Vec::with_capacity(4 * n), Vec::with_capacity(4 * n),
                                                             Vec::with_capacity(4 * n), Vec::with_capacity(4 * n));
        let (mut attrs, mut links) = (Vec::new(), Vec::new());
        for s in spans {
            names.extend_from_slice(&w.s(&s.name)?.to_le_bytes());
            msgs.extend_from_slice(&w.s(&s.msg)?.to_le_bytes());
            nattrs.extend_from_slice(&(s.attrs.len() as u32).to_le_bytes());
            for (k, v) in s.attrs.iter() {
                attrs.extend_from_slice(&w.s(&k)?.to_le_bytes());
                w.value(&v, &mut attrs)?;
            }
            nlinks.extend_from_slice(&(s.links.len() as u32).to_le_bytes());
            for (lt, ls) in &s.links {
                links.extend_from_slice(lt);
                links.extend_from_slice(ls);
            }
        }
        let mut out = Vec::with_capacity(64 + n * 96 + attrs.len() + links.len() + res_bytes.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(w.order.len() as u32).to_le_bytes());
        for t in &w.order {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        out.extend_from_slice(&(res_index.len() as u32).to_le_bytes());
        out.extend_from_slice(&res_bytes);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for s in spans { out.extend_from_slice(&s.tid); }
        for s in spans { out.extend_from_slice(&s.sid); }
        for s in spans { out.extend_from_slice(&s.pid.unwrap_or([0; 8])); }
        for s in spans { out.push(u8::from(s.pid.is_some())); }
        for s in spans { out.extend_from_slice(&s.kind.to_le_bytes()); }
        for s in spans { out.extend_from_slice(&s.status.to_le_bytes()); }
        for s in spans { out.extend_from_slice(&s.start.to_le_bytes()); }
        for s in spans { out.extend_from_slice(&s.end.to_le_bytes()); }
        for s in spans {
            let ptr = s.resource.as_ptr();
            let i = res_index.iter().position(|p| *p == ptr).unwrap_or(0) as u32;
            out.extend_from_slice(&i.to_le_bytes());
        }
        out.extend_from_slice(&names);
        out.extend_from_slice(&msgs);
        out.extend_from_slice(&nattrs);
        out.extend_from_slice(&nlinks);
        out.extend_from_slice(&attrs);
        out.extend_from_slice(&links);
        Ok(out)
    }

    /// `[(key, block or None)]` in `group_by_trace` order, or None (not even grouped: the reference runs)
    /// when a trace id is not a plain string.
    pub fn encode_by_trace<'py>(&self, py: Python<'py>, spans: &Bound<'py, PyList>) -> PyResult<Option<Bound<'py, PyList>>> {
        let nm = &self.names;
        let mut keys: Vec<Bound<'py, PyString>> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut fixed: Vec<Option<Fixed<'py>>> = Vec::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            let tid = s.getattr(nm.trace_id.bind(py))?;
            let Ok(tid) = exact_str(&tid) else { return Ok(None) };
            let mut route = |t: &Bound<'py, PyString>, i: usize| -> PyResult<()> {
                let text = t.to_str()?;
                let g = match index.get(text) {
                    Some(&g) => g,
                    None => {
                        index.insert(text.to_owned(), keys.len());
                        keys.push(t.clone());
                        members.push(Vec::new());
                        keys.len() - 1
                    }
                };
                if members[g].last() != Some(&i) {
                    members[g].push(i);
                }
                Ok(())
            };
            route(&tid, i)?;
            let tid_text = tid.to_str()?.to_owned();
            let links = s.getattr(nm.links.bind(py))?;
            for ln in links.try_iter()? {
                let ln = ln?;
                let Ok((lt, _)) = ln.extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>() else { return Ok(None) };
                let Ok(lt) = exact_str(&lt) else { return Ok(None) };
                if lt.to_str()? != tid_text {
                    route(&lt, i)?;
                }
            }
            fixed.push(self.fixed(py, &s).ok());
        }
        let out = PyList::empty(py);
        for (key, group) in keys.into_iter().zip(members) {
            let spans: Option<Vec<&Fixed<'py>>> = group.iter().map(|&i| fixed[i].as_ref()).collect();
            let block = match spans {
                Some(v) => self.block(py, &v).ok(),
                None => None,
            };
            let value: Bound<'py, PyAny> = match block {
                Some(b) => PyBytes::new(py, &b).into_any(),
                None => py.None().into_bound(py),
            };
            out.append(PyTuple::new(py, [key.into_any(), value])?)?;
        }
        Ok(Some(out))
    }
}

// ---------------------------------------------------------------- reading

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        if end > self.b.len() {
            return None;
        }
        let s = &self.b[self.pos..end];
        self.pos = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn hex_str<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyString> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = [0u8; 32];
    for (i, &x) in b.iter().enumerate() {
        s[2 * i] = HEX[(x >> 4) as usize];
        s[2 * i + 1] = HEX[(x & 15) as usize];
    }
    // SAFETY-free: ASCII hex digits are valid UTF-8
    PyString::new(py, std::str::from_utf8(&s[..2 * b.len()]).unwrap_or(""))
}

struct Table<'py> {
    strs: Vec<Bound<'py, PyString>>,
}

impl<'py> Table<'py> {
    fn s(&self, r: &mut Reader<'_>) -> Option<Bound<'py, PyString>> {
        self.strs.get(r.u32()? as usize).cloned()
    }

    fn value(&self, py: Python<'py>, r: &mut Reader<'_>, depth: u32) -> PyResult<Option<Bound<'py, PyAny>>> {
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        let Some(tag) = r.take(1) else { return Ok(None) };
        Ok(Some(match tag[0] {
            0 => py.None().into_bound(py),
            1 => match self.s(r) { Some(s) => s.into_any(), None => return Ok(None) },
            2 => match r.u64() { Some(v) => (v as i64).into_pyobject(py)?.into_any(), None => return Ok(None) },
            3 => match r.u64() { Some(v) => PyFloat::new(py, f64::from_bits(v)).into_any(), None => return Ok(None) },
            4 => PyBool::new(py, false).to_owned().into_any(),
            5 => PyBool::new(py, true).to_owned().into_any(),
            6 => {
                let Some(n) = r.u32() else { return Ok(None) };
                let l = PyList::empty(py);
                for _ in 0..n {
                    match self.value(py, r, depth + 1)? {
                        Some(v) => l.append(v)?,
                        None => return Ok(None),
                    }
                }
                l.into_any()
            }
            7 => match self.mapping(py, r, depth + 1)? { Some(d) => d.into_any(), None => return Ok(None) },
            _ => return Ok(None),
        }))
    }

    fn mapping(&self, py: Python<'py>, r: &mut Reader<'_>, depth: u32) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(n) = r.u32() else { return Ok(None) };
        let d = PyDict::new(py);
        for _ in 0..n {
            let Some(k) = self.s(r) else { return Ok(None) };
            match self.value(py, r, depth)? {
                Some(v) => d.set_item(k, v)?,
                None => return Ok(None),
            }
        }
        Ok(Some(d))
    }
}

impl Codec {
    /// The spans of a block, or None for anything the reference might refuse (it then reads the bytes).
    pub fn decode<'py>(&self, py: Python<'py>, data: &[u8], partition: i64, offset: i64,
                       cache: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyList>>> {
        if !data.starts_with(MAGIC) {
            return Ok(None);
        }
        let mut r = Reader { b: data, pos: MAGIC.len() };
        macro_rules! get {
            ($e:expr) => {
                match $e {
                    Some(v) => v,
                    None => return Ok(None),
                }
            };
        }
        let n_str = get!(r.u32());
        let mut t = Table { strs: Vec::new() };
        {
            let mut known = self.strings.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..n_str {
                let len = get!(r.u32()) as usize;
                let bytes = get!(r.take(len));
                if len <= CACHED_LEN {
                    if let Some(p) = known.get(bytes) {
                        t.strs.push(p.bind(py).clone());
                        continue;
                    }
                }
                let Ok(text) = std::str::from_utf8(bytes) else { return Ok(None) };
                let p = PyString::new(py, text);
                if len <= CACHED_LEN {
                    if known.len() >= STRING_CACHE {
                        known.clear();
                    }
                    known.insert(bytes.to_vec(), p.clone().unbind());
                }
                t.strs.push(p);
            }
        }
        let n_res = get!(r.u32());
        let mut resources = Vec::new();
        let resource_fn = self.resource_fn.bind(py);
        let cache_dict = cache.cast::<PyDict>().ok().filter(|d| d.is_exact_instance_of::<PyDict>());
        for _ in 0..n_res {
            let service = get!(t.s(&mut r));
            let namespace = get!(t.s(&mut r));
            let attrs = get!(t.mapping(py, &mut r, 0)?);
            // the reference's cache key, (service, namespace, *attrs.items()), looked up here; a miss
            // (or an unhashable value) goes to the reference's function, which fills the cache
            if let Some(d) = &cache_dict {
                let mut parts: Vec<Bound<'py, PyAny>> = vec![service.clone().into_any(), namespace.clone().into_any()];
                for (k, v) in attrs.iter() {
                    parts.push(PyTuple::new(py, [k, v])?.into_any());
                }
                if let Ok(Some(hit)) = d.get_item(PyTuple::new(py, parts)?) {
                    resources.push(hit);
                    continue;
                }
            }
            let wire = PyList::new(py, [service.into_any(), namespace.into_any(), attrs.into_any()])?;
            resources.push(resource_fn.call1((wire, cache))?);
        }
        let n = get!(r.u32()) as usize;
        let w = |k: usize| n.checked_mul(k);
        let tids = get!(r.take(get!(w(16))));
        let sids = get!(r.take(get!(w(8))));
        let pids = get!(r.take(get!(w(8))));
        let flags = get!(r.take(n));
        let kinds = get!(r.take(get!(w(4))));
        let statuses = get!(r.take(get!(w(4))));
        let starts = get!(r.take(get!(w(8))));
        let ends = get!(r.take(get!(w(8))));
        let ress = get!(r.take(get!(w(4))));
        let names = get!(r.take(get!(w(4))));
        let msgs = get!(r.take(get!(w(4))));
        let nattrs = get!(r.take(get!(w(4))));
        let nlinks = get!(r.take(get!(w(4))));
        let u32_at = |col: &[u8], i: usize| u32::from_le_bytes([col[4 * i], col[4 * i + 1], col[4 * i + 2], col[4 * i + 3]]);
        let i32_at = |col: &[u8], i: usize| i32::from_le_bytes([col[4 * i], col[4 * i + 1], col[4 * i + 2], col[4 * i + 3]]);
        let u64_at = |col: &[u8], i: usize| u64::from_le_bytes(col[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        let mut attr_dicts = Vec::with_capacity(n);
        for i in 0..n {
            let d = PyDict::new(py);
            for _ in 0..u32_at(nattrs, i) {
                let k = get!(t.s(&mut r));
                let v = get!(t.value(py, &mut r, 0)?);
                d.set_item(k, v)?;
            }
            attr_dicts.push(d);
        }
        let out = PyList::empty(py);
        let zero = 0i64.into_pyobject(py)?.into_any();
        let part = partition.into_pyobject(py)?.into_any();
        let off = offset.into_pyobject(py)?.into_any();
        let empty = PyTuple::empty(py);
        let blank = PyString::new(py, "");
        let mut last_tid: Option<(&[u8], Bound<'py, PyString>)> = None;
        for (i, attrs) in attr_dicts.into_iter().enumerate() {
            let flag = flags[i];
            let pid = &pids[8 * i..8 * i + 8];
            if flag > 1 || (flag == 0 && pid.iter().any(|&b| b != 0)) {
                return Ok(None);
            }
            let res = get!(resources.get(u32_at(ress, i) as usize)).clone();
            let name = get!(t.strs.get(u32_at(names, i) as usize)).clone();
            let msg = get!(t.strs.get(u32_at(msgs, i) as usize)).clone();
            let nl = u32_at(nlinks, i);
            let links = if nl == 0 {
                empty.clone()
            } else {
                // a count read from the bytes: no more links than bytes left can hold
                let mut v = Vec::with_capacity((nl as usize).min((data.len() - r.pos) / 24));
                for _ in 0..nl {
                    let lt = get!(r.take(16));
                    let ls = get!(r.take(8));
                    v.push(PyTuple::new(py, [hex_str(py, lt), hex_str(py, ls)])?);
                }
                PyTuple::new(py, v)?
            };
            let pid_s = if flag == 1 { hex_str(py, pid) } else { blank.clone() };
            let tid_bytes = &tids[16 * i..16 * i + 16];
            let tid = match &last_tid {
                Some((b, p)) if *b == tid_bytes => p.clone(),
                _ => {
                    let p = hex_str(py, tid_bytes);
                    last_tid = Some((tid_bytes, p.clone()));
                    p
                }
            };
            out.append(self.span.make(py, &[
                tid.into_any(), hex_str(py, &sids[8 * i..8 * i + 8]).into_any(),
                pid_s.into_any(), i32_at(kinds, i).into_pyobject(py)?.into_any(), name.into_any(),
                u64_at(starts, i).into_pyobject(py)?.into_any(), u64_at(ends, i).into_pyobject(py)?.into_any(),
                i32_at(statuses, i).into_pyobject(py)?.into_any(), res, attrs.into_any(), links.into_any(),
                msg.into_any(), zero.clone(), part.clone(), off.clone()])?)?;
        }
        if r.pos != data.len() {
            return Ok(None);
        }
        Ok(Some(out))
    }
}
