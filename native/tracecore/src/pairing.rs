//! `Pairer.add` of airdig/tracecore/pairing.py, statement for statement, on the Pairer's own Python
//! state (its `pending` dict of `_Half`, its `_order` deque, its counters), so expiry, metrics and
//! tests see exactly what the Python version leaves behind. Only the interpreter overhead goes.
//!
//! Spans read from the bus (``partition >= 0``) also enter the Pairer's per-partition read queues
//! (``_read_clients`` / ``_read_servers``: ``(offset, key, half)`` in read order) that
//! ``Pairer.held_offsets`` walks to hold back the commit, exactly as the Python statements do.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

use crate::fastnew::SlotMaker;

const KIND_SERVER: i64 = 2;
const KIND_CLIENT: i64 = 3;
const KIND_PRODUCER: i64 = 4;
const KIND_CONSUMER: i64 = 5;

pub struct Names {
    trace_id: Py<PyString>,
    span_id: Py<PyString>,
    parent_id: Py<PyString>,
    kind: Py<PyString>,
    links: Py<PyString>,
    state: Py<PyString>,
    client: Py<PyString>,
    server: Py<PyString>,
    siblings: Py<PyString>,
    resource: Py<PyString>,
    service_id: Py<PyString>,
    pending: Py<PyString>,
    order: Py<PyString>,
    append: Py<PyString>,
    max_pending: Py<PyString>,
    wait: Py<PyString>,
    counters: Py<PyString>,
    spans: Py<PyString>,
    dropped_by_side: Py<PyString>,
    partition: Py<PyString>,
    offset: Py<PyString>,
    read_clients: Py<PyString>,
    read_servers: Py<PyString>,
    sid: Py<PyString>,
}

impl Names {
    pub fn new(py: Python<'_>) -> Self {
        let i = |s: &str| PyString::intern(py, s).unbind();
        Names {
            trace_id: i("trace_id"), span_id: i("span_id"), parent_id: i("parent_id"), kind: i("kind"),
            links: i("links"), state: i("state"), client: i("client"), server: i("server"),
            siblings: i("siblings"), resource: i("resource"), service_id: i("service_id"),
            pending: i("pending"), order: i("_order"), append: i("append"), max_pending: i("max_pending"),
            wait: i("wait"), counters: i("counters"), spans: i("spans"), dropped_by_side: i("dropped_by_side"),
            partition: i("partition"), offset: i("offset"), read_clients: i("_read_clients"),
            read_servers: i("_read_servers"), sid: i("_sid"),
        }
    }
}

pub struct Kernel {
    pub names: Names,
    pub half: SlotMaker,  // _Half(client, server, deadline, siblings)
    pub call: SlotMaker,  // Call(src, dst, connection_type, client, server, peer)
    pub deque: Py<PyAny>, // collections.deque, for a partition's first read queue
}

#[derive(Default)]
struct Counts {
    paired: i64,
    root: i64,
    internal: i64,
    duplicate: i64,
    dropped: i64,
    dropped_client: i64,
    dropped_server: i64,
}

/// 0 client/producer, 1 server/consumer, 2 anything else: Python's `kind in (CLIENT, PRODUCER)`.
fn kind_class(kind: &Bound<'_, PyAny>) -> PyResult<(u8, i64)> {
    let k = match kind.extract::<i64>() {
        Ok(k) => k,
        Err(_) => {
            // not an i64 (a huge int, a float...): compare the way Python's `in` does
            for v in [KIND_CLIENT, KIND_PRODUCER, KIND_SERVER, KIND_CONSUMER] {
                if kind.eq(v)? {
                    return Ok((if v == KIND_CLIENT || v == KIND_PRODUCER { 0 } else { 1 }, v));
                }
            }
            return Ok((2, -1));
        }
    };
    Ok((match k {
        KIND_CLIENT | KIND_PRODUCER => 0,
        KIND_SERVER | KIND_CONSUMER => 1,
        _ => 2,
    }, k))
}

fn py_eq(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    if a.is(b) {
        return Ok(true);
    }
    if let (Ok(x), Ok(y)) = (a.cast::<PyString>(), b.cast::<PyString>()) {
        if x.is_exact_instance_of::<PyString>() && y.is_exact_instance_of::<PyString>() {
            return Ok(x.to_str()? == y.to_str()?);
        }
    }
    a.eq(b)
}

struct Ctx<'py, 'k> {
    py: Python<'py>,
    k: &'k Kernel,
    pending: Bound<'py, PyDict>,
    order_append: Bound<'py, PyAny>,
    max_pending: usize,
    deadline: Bound<'py, PyAny>,
    empty: Bound<'py, PyTuple>,
    none: Bound<'py, PyAny>,
    out: Bound<'py, PyList>,
    n: Counts,
    pairer: Bound<'py, PyAny>,
    zero: Bound<'py, PyAny>,
    read_clients: Option<Bound<'py, PyDict>>,
    read_servers: Option<Bound<'py, PyDict>>,
}

impl<'py> Ctx<'py, '_> {
    /// The Pairer's read queues of one side (`_read_clients` / `_read_servers`), looked up once a call.
    fn queues(&mut self, is_client: bool) -> PyResult<Bound<'py, PyDict>> {
        let slot = if is_client { &mut self.read_clients } else { &mut self.read_servers };
        if let Some(q) = slot {
            return Ok(q.clone());
        }
        let nm = &self.k.names;
        let q = self.pairer.getattr(if is_client { nm.read_clients.bind(self.py) } else { nm.read_servers.bind(self.py) })?
            .cast_into::<PyDict>()?;
        *slot = Some(q.clone());
        Ok(q)
    }

    /// `resource.service_id`: the slot it caches, else the property (which fills it).
    fn service_id(&self, span: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let nm = &self.k.names;
        let res = span.getattr(nm.resource.bind(self.py))?;
        if let Ok(sid) = res.getattr(nm.sid.bind(self.py)) {
            if let Ok(t) = sid.cast::<PyString>() {
                if t.is_exact_instance_of::<PyString>() && !t.to_str()?.is_empty() {
                    return Ok(sid);
                }
            }
        }
        res.getattr(nm.service_id.bind(self.py))
    }

    fn state(&self, s: &Bound<'py, PyAny>) -> PyResult<i64> {
        s.getattr(self.k.names.state.bind(self.py))?.extract()
    }

    fn set_state(&self, s: &Bound<'py, PyAny>, v: i64) -> PyResult<()> {
        s.setattr(self.k.names.state.bind(self.py), v)
    }

    fn offer(&mut self, key: Bound<'py, PyTuple>, s: &Bound<'py, PyAny>, is_client: bool,
             sibs: &Bound<'py, PyTuple>) -> PyResult<()> {
        let py = self.py;
        let nm = &self.k.names;
        let half = match self.pending.get_item(&key)? {
            Some(h) => h,
            None => {
                if self.pending.len() >= self.max_pending {
                    if self.state(s)? == 0 {
                        self.set_state(s, 2)?;
                        self.n.dropped += 1;
                        if is_client { self.n.dropped_client += 1 } else { self.n.dropped_server += 1 }
                    }
                    return Ok(());
                }
                let h = if is_client {
                    self.k.half.make(py, &[s.clone(), self.none.clone(), self.deadline.clone(), self.empty.clone().into_any()])?
                } else {
                    self.k.half.make(py, &[self.none.clone(), s.clone(), self.deadline.clone(), sibs.clone().into_any()])?
                };
                self.pending.set_item(&key, &h)?;
                self.order_append.call1((PyTuple::new(py, [self.deadline.clone(), key.clone().into_any()])?,))?;
                // read from the bus: remember (offset, key, half) in its partition's read queue
                let part = s.getattr(nm.partition.bind(py))?;
                let read = match part.cast::<PyInt>() {
                    Ok(i) if i.is_exact_instance_of::<PyInt>() => match i.extract::<i64>() {
                        Ok(v) => v >= 0,
                        Err(_) => part.ge(&self.zero)?, // beyond 64 bits: compare as Python does
                    },
                    _ => part.ge(&self.zero)?,
                };
                if read {
                    let queues = self.queues(is_client)?;
                    let q = match queues.get_item(&part)? {
                        Some(q) => q,
                        None => {
                            let q = self.k.deque.bind(py).call0()?;
                            queues.set_item(&part, &q)?;
                            q
                        }
                    };
                    q.call_method1(nm.append.bind(py),
                                   (PyTuple::new(py, [s.getattr(nm.offset.bind(py))?, key.into_any(), h])?,))?;
                }
                return Ok(());
            }
        };
        let h_client = half.getattr(nm.client.bind(py))?;
        let h_server = half.getattr(nm.server.bind(py))?;
        let (other, mine) = if is_client { (&h_server, &h_client) } else { (&h_client, &h_server) };
        if other.is_none() {
            if !mine.is_none() && !mine.is(s) {
                self.n.duplicate += 1;
            }
            return Ok(());
        }
        let client = if is_client { s.clone() } else { h_client.clone() };
        let server = if is_client { h_server.clone() } else { s.clone() };
        self.pending.del_item(&key)?;
        if client.is_none() || server.is_none() {
            return Ok(());
        }
        let server_sibs = if is_client { half.getattr(nm.siblings.bind(py))? } else { sibs.clone().into_any() };
        if server_sibs.is_truthy()? {
            for k in server_sibs.try_iter()? {
                let k = k?;
                if !py_eq(&k, key.as_any())? {
                    if let Some(h) = self.pending.get_item(&k)? {
                        if h.getattr(nm.server.bind(py))?.is(&server) && h.getattr(nm.client.bind(py))?.is_none() {
                            self.pending.del_item(&k)?;
                        }
                    }
                }
            }
        }
        self.set_state(&client, 1)?;
        self.set_state(&server, 1)?;
        self.n.paired += 2;
        let (_, ck) = kind_class(&client.getattr(nm.kind.bind(py))?)?;
        let (_, sk) = kind_class(&server.getattr(nm.kind.bind(py))?)?;
        let ctype = if ck == KIND_PRODUCER || sk == KIND_CONSUMER { "messaging_system" } else { "" };
        let src = self.service_id(&client)?;
        let dst = self.service_id(&server)?;
        let call = self.k.call.make(py, &[src, dst, PyString::new(py, ctype).into_any(), client, server,
                                            self.none.clone()])?;
        self.out.append(call)
    }
}

impl Kernel {
    pub fn add<'py>(&self, py: Python<'py>, pairer: &Bound<'py, PyAny>, spans: &Bound<'py, PyList>,
                    route: Option<Bound<'py, PyAny>>, now: f64) -> PyResult<Bound<'py, PyList>> {
        self.add_routed(py, pairer, &[(spans.clone(), route)], now)
    }

    /// `add` of several batches in turn, each under its own route (one poll's records), one setup.
    pub fn add_routed<'py>(&self, py: Python<'py>, pairer: &Bound<'py, PyAny>,
                           batches: &[(Bound<'py, PyList>, Option<Bound<'py, PyAny>>)], now: f64)
                           -> PyResult<Bound<'py, PyList>> {
        let nm = &self.names;
        let wait: f64 = pairer.getattr(nm.wait.bind(py))?.extract()?;
        let mut cx = Ctx {
            py,
            k: self,
            pending: pairer.getattr(nm.pending.bind(py))?.cast_into::<PyDict>()?,
            order_append: pairer.getattr(nm.order.bind(py))?.getattr(nm.append.bind(py))?,
            max_pending: pairer.getattr(nm.max_pending.bind(py))?.extract()?,
            deadline: (now + wait).into_pyobject(py)?.into_any(),
            empty: PyTuple::empty(py),
            none: py.None().into_bound(py),
            out: PyList::empty(py),
            n: Counts::default(),
            pairer: pairer.clone(),
            zero: 0i64.into_pyobject(py)?.into_any(),
            read_clients: None,
            read_servers: None,
        };
        let mut result = Ok(());
        for (spans, route) in batches {
            result = self.run(&mut cx, spans, route.as_ref());
            if result.is_err() {
                break;
            }
        }
        // counters as the Python version would have left them, also when a span could not be read
        let counters = pairer.getattr(nm.counters.bind(py))?;
        let count = counters.getattr(nm.spans.bind(py))?.cast_into::<PyDict>()?;
        let bump = |d: &Bound<'py, PyDict>, key: &str, n: i64| -> PyResult<()> {
            if n != 0 {
                let cur: i64 = d.get_item(key)?.map(|v| v.extract()).transpose()?.unwrap_or(0);
                d.set_item(key, cur + n)?;
            }
            Ok(())
        };
        bump(&count, "paired", cx.n.paired)?;
        bump(&count, "root", cx.n.root)?;
        bump(&count, "internal", cx.n.internal)?;
        bump(&count, "duplicate", cx.n.duplicate)?;
        bump(&count, "dropped", cx.n.dropped)?;
        let side = counters.getattr(nm.dropped_by_side.bind(py))?.cast_into::<PyDict>()?;
        bump(&side, "client", cx.n.dropped_client)?;
        bump(&side, "server", cx.n.dropped_server)?;
        result?;
        Ok(cx.out)
    }

    fn run<'py>(&self, cx: &mut Ctx<'py, '_>, spans: &Bound<'py, PyList>, route: Option<&Bound<'py, PyAny>>)
                -> PyResult<()> {
        let py = cx.py;
        let nm = &self.names;
        for s in spans.iter() {
            let tid = s.getattr(nm.trace_id.bind(py))?;
            let own = match route {
                None => true,
                Some(r) => py_eq(&tid, r)?,
            };
            let (class, _) = kind_class(&s.getattr(nm.kind.bind(py))?)?;
            if class == 0 {
                if own {
                    let key = PyTuple::new(py, [tid, s.getattr(nm.span_id.bind(py))?])?;
                    let empty = cx.empty.clone();
                    cx.offer(key, &s, true, &empty)?;
                }
            } else if class == 1 {
                let pid = s.getattr(nm.parent_id.bind(py))?;
                let has_parent = pid.is_truthy()?;
                let links = s.getattr(nm.links.bind(py))?;
                let mut keys: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = Vec::new();
                if has_parent && own {
                    keys.push((tid.clone(), pid));
                }
                for ln in links.try_iter()? {
                    let ln = ln?;
                    let (lt, ls): (Bound<'py, PyAny>, Bound<'py, PyAny>) = ln.extract()?;
                    let ok = match route {
                        None => true,
                        Some(r) => py_eq(&lt, r)?,
                    };
                    if ok {
                        let mut seen = false;
                        for (a, b) in &keys {
                            if py_eq(a, &lt)? && py_eq(b, &ls)? {
                                seen = true;
                                break;
                            }
                        }
                        if !seen {
                            keys.push((lt, ls));
                        }
                    }
                }
                if keys.is_empty() {
                    if own && !has_parent && !links.is_truthy()? {
                        cx.n.root += 1;
                        cx.set_state(&s, 1)?;
                    }
                    continue;
                }
                let key_tuples: Vec<Bound<'py, PyTuple>> =
                    keys.into_iter().map(|(a, b)| PyTuple::new(py, [a, b])).collect::<PyResult<_>>()?;
                let sibs = if key_tuples.len() > 1 { PyTuple::new(py, &key_tuples)? } else { cx.empty.clone() };
                for k in key_tuples {
                    if cx.state(&s)? == 1 {
                        break;
                    }
                    cx.offer(k, &s, false, &sibs)?;
                }
            } else if own {
                cx.n.internal += 1;
            }
        }
        Ok(())
    }
}
