//! airdig_tracecore_native: TraceCore's OTLP protobuf decoder, compiled.
//!
//! The reference is `airdig.tracecore.decode.decode_message` (pure Python over the protobuf
//! library); this module must give the same span summaries for every request the reference
//! accepts. The Python wrapper (`airdig.tracecore.native`) falls back to the reference parser
//! whenever `Decoder.decode` returns None, which it does for any request it finds malformed, so
//! errors are the reference's errors word for word.

mod block;
mod fastnew;
mod otlp;
mod pairing;
mod redact;
mod stats;
mod wire;

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString, PyTuple};

use otlp::{Kv, Span, Val};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// FNV-1a: attribute keys are short and trusted to be few; SipHash's DoS resistance is not needed for a
/// fixed table of ~30 keys that only ever gets looked up.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf29ce484222325 } else { self.0 };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

fn to_py<'py>(py: Python<'py>, v: &Val<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Val::None => py.None().into_bound(py),
        Val::Str(s) => PyString::new(py, s).into_any(),
        Val::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Val::Int(i) => i.into_pyobject(py)?.into_any(),
        Val::Double(f) => PyFloat::new(py, *f).into_any(),
        Val::Bytes(b) => PyString::new(py, &hex(b)).into_any(),
        Val::StrIndex(i) => i.into_pyobject(py)?.into_any(),
        Val::Array(items) => {
            let l = PyList::empty(py);
            for x in items {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        Val::KvList(items) => {
            let d = PyDict::new(py);
            for (k, x) in items {
                d.set_item(*k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// One Python string per distinct span name / status message of a request.
fn cached<'py, 'a>(py: Python<'py>, m: &mut HashMap<&'a str, Bound<'py, PyString>>, s: &'a str) -> Bound<'py, PyString> {
    m.entry(s).or_insert_with(|| PyString::new(py, s)).clone()
}

struct Group<'a> {
    res_attrs: Vec<Kv<'a>>,
    spans: Vec<Span<'a>>,
}

fn parse(body: &[u8]) -> Result<Vec<Group<'_>>, ()> {
    let mut rs_bodies = Vec::new();
    otlp::request(body, &mut rs_bodies)?;
    let mut groups = Vec::with_capacity(rs_bodies.len());
    for rs in rs_bodies {
        let (mut res_parts, mut scopes) = (Vec::new(), Vec::new());
        otlp::resource_spans(rs, &mut res_parts, &mut scopes)?;
        let mut res_attrs = Vec::new();
        for part in res_parts {
            otlp::resource(part, &mut res_attrs)?;
        }
        let mut bodies = Vec::new();
        for sc in scopes {
            otlp::scope_spans(sc, &mut bodies)?;
        }
        let mut spans = Vec::with_capacity(bodies.len());
        for b in bodies {
            let mut s = Span::default();
            otlp::span(b, &mut s)?;
            spans.push(s);
        }
        groups.push(Group { res_attrs, spans });
    }
    Ok(groups)
}

/// Decodes ``ExportTraceServiceRequest`` bytes into the Python ``SpanSummary`` / ``Resource``
/// classes it was built with, reading the span keys it was given (new name, priority).
#[pyclass(frozen, module = "airdig_tracecore_native")]
struct Decoder {
    span_cls: Py<PyAny>,
    span_new: Option<fastnew::SlotMaker>,
    resource_cls: Py<PyAny>,
    span_keys: FnvMap<String, (usize, u8)>,
    new_names: Vec<Py<PyString>>,
    resource_keys: FnvMap<String, ()>,
    service_name: Py<PyString>,
    service_namespace: Py<PyString>,
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (span_cls, resource_cls, span_keys, resource_keys, span_fields=None))]
    fn new(py: Python<'_>, span_cls: Py<PyAny>, resource_cls: Py<PyAny>, span_keys: &Bound<'_, PyDict>,
           resource_keys: Vec<String>, span_fields: Option<Vec<String>>) -> PyResult<Self> {
        // the fast constructor needs the 15 fields in the order decode() fills them
        let span_new = match span_fields {
            Some(f) if f.len() == 15 => fastnew::SlotMaker::new(py, span_cls.bind(py), &f)?,
            _ => None,
        };
        let mut names: Vec<String> = Vec::new();
        let mut keys = FnvMap::default();
        for (k, v) in span_keys.iter() {
            let key: String = k.extract()?;
            let (new, prio): (String, u8) = v.extract()?;
            let idx = match names.iter().position(|n| *n == new) {
                Some(i) => i,
                None => {
                    names.push(new);
                    names.len() - 1
                }
            };
            keys.insert(key, (idx, prio));
        }
        Ok(Decoder {
            span_cls,
            span_new,
            resource_cls,
            span_keys: keys,
            new_names: names.iter().map(|n| PyString::intern(py, n).unbind()).collect(),
            resource_keys: resource_keys.into_iter().map(|k| (k, ())).collect(),
            service_name: PyString::intern(py, "service.name").unbind(),
            service_namespace: PyString::intern(py, "service.namespace").unbind(),
        })
    }

    /// ``(spans, rejected, error_message)``, or None when the bytes are not a well-formed request.
    fn decode<'py>(&self, py: Python<'py>, body: &[u8], all_attributes: bool)
                   -> PyResult<Option<(Bound<'py, PyList>, usize, String)>> {
        let groups = match parse(body) {
            Ok(g) => g,
            Err(()) => return Ok(None),
        };
        let out = PyList::empty(py);
        let mut rejected = 0usize;
        let mut message = String::new();
        let span_cls = self.span_cls.bind(py);
        let empty_links = PyTuple::empty(py);
        let zero = 0i64.into_pyobject(py)?.into_any();
        // partition and offset: not read from the bus (the aggregator sets them for what it reads there)
        let unread = (-1i64).into_pyobject(py)?.into_any();
        let mut strs: HashMap<&str, Bound<'py, PyString>> = HashMap::new();
        for g in &groups {
            let res = self.resource(py, &g.res_attrs)?;
            for s in &g.spans {
                let (tid, sid, pid) = (s.trace_id, s.span_id, s.parent_id);
                if tid.len() != 16 || sid.len() != 8 || tid.iter().all(|&b| b == 0) || sid.iter().all(|&b| b == 0) {
                    rejected += 1;
                    if message.is_empty() {
                        message = format!("span {}: trace_id must be 16 bytes and span_id 8 bytes, non-zero (got {} and {})",
                                          PyString::new(py, s.name).repr()?, tid.len(), sid.len());
                    }
                    continue;
                }
                if !pid.is_empty() && pid.len() != 8 {
                    rejected += 1;
                    if message.is_empty() {
                        message = format!("span {}: parent_span_id must be 8 bytes (got {})",
                                          PyString::new(py, s.name).repr()?, pid.len());
                    }
                    continue;
                }
                let attrs = if all_attributes { self.all_attrs(py, &s.attrs)? } else { self.known_attrs(py, &s.attrs)? };
                let links = if s.links.is_empty() {
                    empty_links.clone()
                } else {
                    let mut v = Vec::with_capacity(s.links.len());
                    for (lt, ls) in &s.links {
                        if lt.len() == 16 && ls.len() == 8 {
                            v.push(PyTuple::new(py, [hex(lt), hex(ls)])?);
                        }
                    }
                    PyTuple::new(py, v)?
                };
                let name = cached(py, &mut strs, s.name);
                let msg = cached(py, &mut strs, s.status_message);
                let pid_s = if pid.is_empty() { cached(py, &mut strs, "") } else { PyString::new(py, &hex(pid)) };
                let span = match &self.span_new {
                    Some(maker) => maker.make(py, &[
                        PyString::new(py, &hex(tid)).into_any(), PyString::new(py, &hex(sid)).into_any(),
                        pid_s.into_any(), s.kind.into_pyobject(py)?.into_any(), name.into_any(),
                        s.start.into_pyobject(py)?.into_any(), s.end.into_pyobject(py)?.into_any(),
                        s.status_code.into_pyobject(py)?.into_any(), res.clone(), attrs.into_any(),
                        links.into_any(), msg.into_any(), zero.clone(), unread.clone(), unread.clone()])?,
                    None => span_cls.call1((hex(tid), hex(sid), pid_s, s.kind, name, s.start, s.end, s.status_code,
                                            res.clone(), attrs, links, msg))?,
                };
                out.append(span)?;
            }
        }
        Ok(Some((out, rejected, message)))
    }
}

impl Decoder {
    fn resource<'py>(&self, py: Python<'py>, kvs: &[Kv<'_>]) -> PyResult<Bound<'py, PyAny>> {
        let d = PyDict::new(py);
        for (k, v) in kvs {
            if matches!(v, Val::None) || !self.resource_keys.contains_key(*k) {
                continue;
            }
            match v {
                Val::Str(s) => d.set_item(*k, *s)?,
                _ => d.set_item(*k, to_py(py, v)?.str()?)?,
            }
        }
        let name = self.service_name.bind(py);
        let service: String = match d.get_item(name)? {
            Some(x) => {
                d.del_item(name)?;
                x.extract()?
            }
            None => String::new(),
        };
        let ns_key = self.service_namespace.bind(py);
        let namespace: String = match d.get_item(ns_key)? {
            Some(x) => {
                d.del_item(ns_key)?;
                x.extract()?
            }
            None => String::new(),
        };
        let service = if service.is_empty() { "unknown_service".to_string() } else { service };
        self.resource_cls.bind(py).call1((service, namespace, d))
    }

    /// The reference's default: only the semantic-convention keys, under their new names.
    fn known_attrs<'py>(&self, py: Python<'py>, kvs: &[Kv<'_>]) -> PyResult<Bound<'py, PyDict>> {
        let mut best: Vec<(usize, u8, usize)> = Vec::new(); // (new index, priority, kv index)
        for (i, (k, _)) in kvs.iter().enumerate() {
            if let Some(&(idx, p)) = self.span_keys.get(*k) {
                match best.iter_mut().find(|b| b.0 == idx) {
                    None => best.push((idx, p, i)),
                    Some(b) => {
                        if p < b.1 {
                            b.1 = p;
                            b.2 = i;
                        }
                    }
                }
            }
        }
        let d = PyDict::new(py);
        for (idx, _, i) in best {
            d.set_item(self.new_names[idx].bind(py), to_py(py, &kvs[i].1)?)?;
        }
        Ok(d)
    }

    /// ``all_attributes=True``: new-name keys first (as the reference orders them), then every key.
    fn all_attrs<'py>(&self, py: Python<'py>, kvs: &[Kv<'_>]) -> PyResult<Bound<'py, PyDict>> {
        let mut allv: Vec<(&str, usize)> = Vec::with_capacity(kvs.len());
        for (i, (k, _)) in kvs.iter().enumerate() {
            match allv.iter_mut().find(|x| x.0 == *k) {
                Some(x) => x.1 = i,
                None => allv.push((k, i)),
            }
        }
        let d = PyDict::new(py);
        let mut prio: Vec<(usize, u8)> = Vec::new();
        for &(k, i) in &allv {
            if let Some(&(idx, p)) = self.span_keys.get(k) {
                let take = match prio.iter_mut().find(|b| b.0 == idx) {
                    None => {
                        prio.push((idx, p));
                        true
                    }
                    Some(b) if p < b.1 => {
                        b.1 = p;
                        true
                    }
                    _ => false,
                };
                if take {
                    d.set_item(self.new_names[idx].bind(py), to_py(py, &kvs[i].1)?)?;
                }
            }
        }
        for &(k, i) in &allv {
            if !d.contains(k)? {
                d.set_item(k, to_py(py, &kvs[i].1)?)?;
            }
        }
        Ok(d)
    }
}

/// Per-edge statistics of paired calls, grouped by (minute, window, edge); see `stats.rs`.
#[pyclass(frozen, module = "airdig_tracecore_native")]
struct Accumulator {
    keys: stats::Keys,
    bounds: Vec<f64>,
    code_fn: Py<PyAny>,
    http_key: Py<PyString>,
    grpc_key: Py<PyString>,
}

#[pymethods]
impl Accumulator {
    #[new]
    fn new(py: Python<'_>, bounds: Vec<f64>, code_fn: Py<PyAny>, http_key: &str, grpc_key: &str) -> Self {
        Accumulator {
            keys: stats::Keys::new(py),
            bounds,
            code_fn,
            http_key: PyString::intern(py, http_key).unbind(),
            grpc_key: PyString::intern(py, grpc_key).unbind(),
        }
    }

    fn accumulate<'py>(&self, py: Python<'py>, calls: &Bound<'py, PyList>, window_seconds: f64)
                       -> PyResult<Bound<'py, PyDict>> {
        stats::accumulate(py, &self.keys, calls, window_seconds, &self.bounds, self.code_fn.bind(py),
                          self.http_key.bind(py), self.grpc_key.bind(py))
    }
}

/// `Pairer.add` on the Pairer's own Python state; see `pairing.rs`.
#[pyclass(frozen, module = "airdig_tracecore_native")]
struct PairKernel {
    kernel: pairing::Kernel,
}

#[pymethods]
impl PairKernel {
    #[new]
    fn new(py: Python<'_>, half_cls: &Bound<'_, PyAny>, half_fields: Vec<String>, call_cls: &Bound<'_, PyAny>,
           call_fields: Vec<String>) -> PyResult<Self> {
        let bad = |what: &str| pyo3::exceptions::PyValueError::new_err(format!("{what}: not a slots dataclass of the expected fields"));
        if half_fields.len() != 4 || call_fields.len() != 6 {
            return Err(bad("field count"));
        }
        let half = fastnew::SlotMaker::new(py, half_cls, &half_fields)?.ok_or_else(|| bad("_Half"))?;
        let call = fastnew::SlotMaker::new(py, call_cls, &call_fields)?.ok_or_else(|| bad("Call"))?;
        let deque = py.import("collections")?.getattr("deque")?.unbind();
        Ok(PairKernel { kernel: pairing::Kernel { names: pairing::Names::new(py), half, call, deque } })
    }

    #[pyo3(signature = (pairer, spans, route, now))]
    fn add<'py>(&self, py: Python<'py>, pairer: &Bound<'py, PyAny>, spans: &Bound<'py, PyList>,
                route: Option<Bound<'py, PyAny>>, now: f64) -> PyResult<Bound<'py, PyList>> {
        self.kernel.add(py, pairer, spans, route, now)
    }

    /// ``add`` of each ``(spans, route)`` in turn with one ``now`` (one poll's bus records).
    fn add_routed<'py>(&self, py: Python<'py>, pairer: &Bound<'py, PyAny>, batches: &Bound<'py, PyList>,
                       now: f64) -> PyResult<Bound<'py, PyList>> {
        let mut v = Vec::with_capacity(batches.len());
        for b in batches.iter() {
            let (spans, route): (Bound<'py, PyList>, Option<Bound<'py, PyAny>>) = b.extract()?;
            v.push((spans, route));
        }
        self.kernel.add_routed(py, pairer, &v, now)
    }
}

/// Span blocks, the bus wire form of span batches; see `block.rs`.
#[pyclass(frozen, module = "airdig_tracecore_native")]
struct BlockCodec {
    codec: block::Codec,
}

#[pymethods]
impl BlockCodec {
    #[new]
    fn new(py: Python<'_>, span_cls: &Bound<'_, PyAny>, span_fields: Vec<String>, resource_fn: Py<PyAny>) -> PyResult<Self> {
        let bad = || pyo3::exceptions::PyValueError::new_err("SpanSummary: not a slots dataclass of the 15 expected fields");
        if span_fields.len() != 15 {
            return Err(bad());
        }
        let span = fastnew::SlotMaker::new(py, span_cls, &span_fields)?.ok_or_else(bad)?;
        Ok(BlockCodec { codec: block::Codec { names: block::Names::new(py), span, resource_fn,
                                               strings: std::sync::Mutex::new(std::collections::HashMap::new()) } })
    }

    fn encode_by_trace<'py>(&self, py: Python<'py>, spans: &Bound<'py, PyList>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.codec.encode_by_trace(py, spans)
    }

    fn decode<'py>(&self, py: Python<'py>, data: &[u8], partition: i64, offset: i64,
                   resources_cache: Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.codec.decode(py, data, partition, offset, &resources_cache)
    }
}

#[pymodule]
fn airdig_tracecore_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PairKernel>()?;
    m.add_class::<BlockCodec>()?;
    m.add_class::<Decoder>()?;
    m.add_class::<Accumulator>()?;
    m.add_class::<redact::Redactor>()?; // SkyGraph's redaction walk; airdig.model.redact checks it by import
    m.add("ABI", 3)?; // 2: PairKernel keeps the per-partition read queues; 3: BlockCodec, PairKernel.add_routed
    Ok(())
}
