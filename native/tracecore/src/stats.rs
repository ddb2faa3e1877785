//! Per-edge call statistics of a batch of paired calls, grouped by (minute, window, edge).
//!
//! The reference is `airdig.tracecore.servicemap.accumulate_python` (one `EdgeStats.add` per call into
//! its group). Values that are not plain ints (strings, floats, bools...) are classified by calling
//! the reference's own `_code`, so every odd attribute value gets exactly the reference's answer.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// What one side of a call contributes: status, HTTP and gRPC codes, duration.
struct Side {
    error: bool,
    http: Option<i128>,
    grpc: Option<i128>,
    ms: f64,
}

#[derive(Default)]
struct Acc {
    requests: u64,
    errors: u64,
    c5xx: u64,
    c4xx: u64,
    c429: u64,
    status_error: u64,
    grpc: u64,
    client: Vec<u64>,
    server: Vec<u64>,
    client_sum: f64,
    server_sum: f64,
}

/// Python's `float % float` (the result has the divisor's sign).
fn py_mod(a: f64, b: f64) -> f64 {
    let mut m = a % b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m += b;
    }
    m
}

fn bisect_left(bounds: &[f64], x: f64) -> usize {
    bounds.partition_point(|&b| b < x)
}

pub struct Keys {
    pub status: Py<PyString>,
    pub start_ns: Py<PyString>,
    pub end_ns: Py<PyString>,
    pub attrs: Py<PyString>,
    pub client: Py<PyString>,
    pub server: Py<PyString>,
    pub src: Py<PyString>,
    pub dst: Py<PyString>,
    pub ctype: Py<PyString>,
}

impl Keys {
    pub fn new(py: Python<'_>) -> Self {
        let i = |s: &str| PyString::intern(py, s).unbind();
        Keys {
            status: i("status"),
            start_ns: i("start_ns"),
            end_ns: i("end_ns"),
            attrs: i("attrs"),
            client: i("client"),
            server: i("server"),
            src: i("src"),
            dst: i("dst"),
            ctype: i("connection_type"),
        }
    }
}

fn code(attrs: &Bound<'_, PyDict>, key: &Bound<'_, PyString>, code_fn: &Bound<'_, PyAny>) -> PyResult<Option<i128>> {
    let v = match attrs.get_item(key)? {
        None => return Ok(None),
        Some(v) => v,
    };
    let v = if v.is_exact_instance_of::<PyInt>() { v } else { code_fn.call1((v,))? };
    if v.is_none() {
        return Ok(None);
    }
    // an int too large for i128 counts as "some non-zero code outside every class"
    Ok(Some(v.extract::<i128>().unwrap_or(i128::MAX)))
}

fn side(py: Python<'_>, s: &Bound<'_, PyAny>, k: &Keys, http_key: &Bound<'_, PyString>,
        grpc_key: &Bound<'_, PyString>, code_fn: &Bound<'_, PyAny>) -> PyResult<(Side, i128)> {
    let status: i64 = s.getattr(k.status.bind(py))?.extract()?;
    let start: i128 = s.getattr(k.start_ns.bind(py))?.extract()?;
    let end: i128 = s.getattr(k.end_ns.bind(py))?.extract()?;
    let attrs_obj = s.getattr(k.attrs.bind(py))?;
    let attrs = attrs_obj.cast::<PyDict>()?;
    let ms = ((end - start).max(0) as f64) / 1e6;
    Ok((Side {
        error: status == 2,
        http: code(attrs, http_key, code_fn)?,
        grpc: code(attrs, grpc_key, code_fn)?,
        ms,
    }, start))
}

/// `{(minute, window_start, src, dst, connection_type): (requests, errors, 5xx, 4xx, 429,
/// status_error, grpc, client_counts, server_counts, client_sum_ms, server_sum_ms)}`.
#[allow(clippy::too_many_arguments)]
pub fn accumulate<'py>(py: Python<'py>, k: &Keys, calls: &Bound<'py, PyList>, window_seconds: f64, bounds: &[f64],
                       code_fn: &Bound<'py, PyAny>, http_key: &Bound<'py, PyString>,
                       grpc_key: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyDict>> {
    let mut held: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> = Vec::with_capacity(calls.len());
    let mut rows: Vec<(i64, u64, Side, Option<Side>)> = Vec::with_capacity(calls.len());
    for call in calls.iter() {
        let (c, start) = side(py, &call.getattr(k.client.bind(py))?, k, http_key, grpc_key, code_fn)?;
        let srv = call.getattr(k.server.bind(py))?;
        let s = if srv.is_none() { None } else { Some(side(py, &srv, k, http_key, grpc_key, code_fn)?.0) };
        let t = start.div_euclid(1_000_000_000);
        let minute = i64::try_from(t - t.rem_euclid(60)).map_err(|_| pyo3::exceptions::PyOverflowError::new_err("start_ns"))?;
        let tf = (start as f64) / 1e9;
        let wstart = tf - py_mod(tf, window_seconds);
        held.push((call.getattr(k.src.bind(py))?, call.getattr(k.dst.bind(py))?, call.getattr(k.ctype.bind(py))?));
        rows.push((minute, wstart.to_bits(), c, s));
    }
    let nb = bounds.len() + 1;
    let mut strs: Vec<(&str, &str, &str)> = Vec::with_capacity(held.len());
    for (a, b, c) in &held {
        strs.push((a.cast::<PyString>()?.to_str()?, b.cast::<PyString>()?.to_str()?, c.cast::<PyString>()?.to_str()?));
    }
    let mut order: Vec<(i64, u64, usize)> = Vec::new();
    let mut groups: HashMap<(i64, u64, &str, &str, &str), Acc> = HashMap::new();
    for (i, (minute, wbits, c, s)) in rows.iter().enumerate() {
        let (src, dst, ct) = strs[i];
        let acc = groups.entry((*minute, *wbits, src, dst, ct)).or_insert_with(|| {
            order.push((*minute, *wbits, i));
            Acc { client: vec![0; nb], server: vec![0; nb], ..Default::default() }
        });
        acc.requests += 1;
        let mut failed = c.error || s.as_ref().is_some_and(|x| x.error);
        if failed {
            acc.status_error += 1;
        }
        let http = s.as_ref().and_then(|x| x.http).or(c.http);
        if let Some(h) = http {
            if h == 429 {
                acc.c429 += 1;
            } else if (500..=599).contains(&h) {
                acc.c5xx += 1;
                failed = true;
            } else if (400..=499).contains(&h) {
                acc.c4xx += 1;
            }
        }
        let grpc = s.as_ref().and_then(|x| x.grpc).or(c.grpc);
        if grpc.is_some_and(|g| g != 0) {
            acc.grpc += 1;
        }
        if failed {
            acc.errors += 1;
        }
        acc.client[bisect_left(bounds, c.ms)] += 1;
        acc.client_sum += c.ms;
        if let Some(x) = s {
            acc.server[bisect_left(bounds, x.ms)] += 1;
            acc.server_sum += x.ms;
        }
    }
    let out = PyDict::new(py);
    for (minute, wbits, i) in order {
        let (src, dst, ct) = strs[i];
        let a = &groups[&(minute, wbits, src, dst, ct)];
        let key = PyTuple::new(py, [minute.into_pyobject(py)?.into_any(),
                                    PyFloat::new(py, f64::from_bits(wbits)).into_any(),
                                    held[i].0.clone(), held[i].1.clone(), held[i].2.clone()])?;
        let val = (a.requests, a.errors, a.c5xx, a.c4xx, a.c429, a.status_error, a.grpc,
                   PyList::new(py, &a.client)?, PyList::new(py, &a.server)?, a.client_sum, a.server_sum);
        out.set_item(key, val)?;
    }
    Ok(out)
}
