//! SkyGraph's redaction walk (`airdig.model.redact._walk_python`), compiled.
//!
//! The reference is the pure-Python walk; this one follows it step by step and must return the same
//! value for every input (tests/unit/model/test_redact_parity.py runs both over the corpus). Only the
//! structural visit is compiled: every decision that needs a rule (a key's action, a string's value
//! patterns, user data, argv flags) calls back into the reference's own Python functions and shares
//! its caches (`_PLAIN_KEYS`, `_ACTIONS`, `_CLEAN`). Written out here: an ASCII string shorter than 40
//! characters that holds none of the value patterns' hints comes back unchanged (what `_redact_text`
//! answers for it), so unique ids, names and IPs never cross into Python; whether a key name is secret
//! is read from `_ACTIONS` (action 1 is exactly `is_secret_key`), which also answers name/value pairs.
//!
//! Copy on write like the reference: a dict or list with nothing to hide is returned as it is.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple};

/// `_HINTS` of airdig/model/redact.py, in its order (a parity test compares the two lists).
pub const HINTS: [&str; 15] = ["://", "akia", "asia", "eyj", "-----begin", "bearer", "basic", "digest", "pass",
                               "pwd", "secret", "token", "key", "credential", "auth"];
/// Below this nesting the subtree is handed to the Python walk (its recursion limit, not our stack).
const MAX_DEPTH: usize = 200;

/// True when `_redact_text(s)` is `s` without running a pattern: ASCII, under 40 characters (the
/// shortest shape needing no hint is a 40-character AWS secret key) and none of the hints inside.
fn plainly_clean(s: &[u8]) -> bool {
    if s.len() >= 40 || !s.is_ascii() {
        return false;
    }
    let mut buf = [0u8; 40];
    for (i, b) in s.iter().enumerate() {
        buf[i] = b.to_ascii_lowercase();
    }
    let low = &buf[..s.len()];
    for i in 0..low.len() {
        let c = low[i];
        if HINT_FIRST[c as usize] {
            let rest = &low[i..];
            if HINTS.iter().any(|h| h.as_bytes()[0] == c && rest.starts_with(h.as_bytes())) {
                return false;
            }
        }
    }
    true
}

/// The first bytes of the hints: most positions of a string start none, and are passed over at one load.
const HINT_FIRST: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < HINTS.len() {
        t[HINTS[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    t
};

/// The caches and rule functions of airdig.model.redact, held for the walk.
#[pyclass(frozen, module = "airdig_tracecore_native")]
pub struct Redactor {
    plain_keys: Py<PySet>,
    actions: Py<PyDict>,
    clean: Py<PySet>,
    clean_max: usize,
    pair_value_keys: Py<PyFrozenSet>,
    key_action: Py<PyAny>,
    redact_text: Py<PyAny>,
    pair_names: Py<PyTuple>,
    user_data: Py<PyAny>,
    is_secret_flag: Py<PyAny>,
    python_walk: Py<PyAny>,
    is_secret_key: Py<PyAny>,
    redacted: Py<PyString>,
}

struct Ctx<'a, 'py> {
    plain_keys: &'a Bound<'py, PySet>,
    actions: &'a Bound<'py, PyDict>,
    clean: &'a Bound<'py, PySet>,
    clean_max: usize,
    pair_value_keys: &'a Bound<'py, PyFrozenSet>,
    key_action: &'a Bound<'py, PyAny>,
    redact_text: &'a Bound<'py, PyAny>,
    pair_names: &'a Bound<'py, PyTuple>,
    user_data: &'a Bound<'py, PyAny>,
    is_secret_flag: &'a Bound<'py, PyAny>,
    python_walk: &'a Bound<'py, PyAny>,
    is_secret_key: &'a Bound<'py, PyAny>,
    redacted: &'a Bound<'py, PyString>,
}

/// `len(s)` in code points.
fn py_len(s: &Bound<'_, PyString>) -> PyResult<isize> {
    // SAFETY: `s` is a live str object and we hold the GIL.
    let n = unsafe { ffi::PyUnicode_GetLength(s.as_ptr()) };
    if n < 0 {
        return Err(PyErr::fetch(s.py()));
    }
    Ok(n)
}

/// True when the string needs no look at all: shorter than 8 characters, or plainly clean.
fn skip_str(s: &Bound<'_, PyString>, len: isize) -> bool {
    if len < 8 {
        return true;
    }
    match s.to_str() {
        Ok(text) => plainly_clean(text.as_bytes()),
        Err(_) => false, // lone surrogates: the Python rules decide
    }
}

impl<'py> Ctx<'_, 'py> {
    /// `redact_text(value)` (the same object back when nothing changed).
    fn text(&self, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(s) = value.cast_exact::<PyString>() {
            let len = py_len(s)?;
            if skip_str(s, len) {
                return Ok(value.clone());
            }
        }
        self.redact_text.call1((value,))
    }

    /// `is_secret_key(key)`, answered from the walk's key caches when they know the key
    /// (`_key_action(key) == 1` exactly when it is a secret key).
    fn secret_key(&self, key: &Bound<'py, PyAny>) -> PyResult<bool> {
        if !key.is_exact_instance_of::<PyString>() {
            return self.is_secret_key.call1((key,))?.is_truthy();
        }
        if self.plain_keys.contains(key)? {
            return Ok(false);
        }
        let action: i64 = match self.actions.get_item(key)? {
            Some(a) => a.extract()?,
            None => self.key_action.call1((key,))?.extract()?,
        };
        Ok(action == 1)
    }

    /// `_pair_is_secret(d)`: one of the pair's name keys holds a secret key's name.
    fn pair_is_secret(&self, d: &Bound<'py, PyDict>) -> PyResult<bool> {
        for name_key in self.pair_names.iter() {
            if let Some(name) = d.get_item(&name_key)? {
                if name.is_instance_of::<PyString>() && self.secret_key(&name)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// `redact_tags(tags)`: a secret-named tag's value hidden, every value pattern-checked, copy on write.
    fn tags(&self, tags: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let d = match tags.cast_exact::<PyDict>() {
            Ok(d) => d,
            Err(_) => return self.python_tags(tags),
        };
        let mut out: Option<Bound<'py, PyDict>> = None;
        for (k, v) in d.iter() {
            let nv = if self.secret_key(&k)? && v.is_truthy()? {
                self.redacted.clone().into_any()
            } else {
                self.text(&v)?
            };
            if !nv.is(&v) && nv.ne(&v)? {
                if out.is_none() {
                    out = Some(d.copy()?);
                }
                if let Some(o) = &out {
                    o.set_item(&k, nv)?;
                }
            }
        }
        Ok(match out {
            Some(o) => o.into_any(),
            None => tags.clone(),
        })
    }

    fn python_tags(&self, tags: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        // not a plain dict (never from a transform): the reference's loop, item by item
        let items = tags.call_method0("items")?;
        let mut out: Option<Bound<'py, PyDict>> = None;
        for kv in items.try_iter()? {
            let (k, v): (Bound<'py, PyAny>, Bound<'py, PyAny>) = kv?.extract()?;
            let nv = if self.is_secret_key.call1((&k,))?.is_truthy()? && v.is_truthy()? {
                self.redacted.clone().into_any()
            } else {
                self.redact_text.call1((&v,))?
            };
            if !nv.is(&v) && nv.ne(&v)? {
                if out.is_none() {
                    out = Some(tags.py().get_type::<PyDict>().call1((tags,))?.cast_into::<PyDict>()?);
                }
                if let Some(o) = &out {
                    o.set_item(&k, nv)?;
                }
            }
        }
        Ok(match out {
            Some(o) => o.into_any(),
            None => tags.clone(),
        })
    }

    /// `v is None or v == "" or type(v) is bool or ((type(v) is list or type(v) is dict) and not v)`
    fn nothing_to_hide(&self, v: &Bound<'py, PyAny>) -> PyResult<bool> {
        if v.is_none() || v.is_exact_instance_of::<PyBool>() {
            return Ok(true);
        }
        if let Ok(s) = v.cast_exact::<PyString>() {
            return Ok(py_len(s)? == 0);
        }
        if let Ok(l) = v.cast_exact::<PyList>() {
            return Ok(l.len() == 0);
        }
        if let Ok(d) = v.cast_exact::<PyDict>() {
            return Ok(d.len() == 0);
        }
        if v.is_exact_instance_of::<PyInt>() || v.is_exact_instance_of::<PyFloat>() {
            return Ok(false);
        }
        v.eq("")
    }

    fn walk(&self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        if depth > MAX_DEPTH {
            return self.python_walk.call1((value,));
        }
        if let Ok(s) = value.cast_exact::<PyString>() {
            let len = py_len(s)?;
            if skip_str(s, len) {
                return Ok(value.clone());
            }
            return self.redact_text.call1((value,));
        }
        if let Ok(d) = value.cast_exact::<PyDict>() {
            return self.walk_dict(d, depth);
        }
        if let Ok(l) = value.cast_exact::<PyList>() {
            return self.walk_list(l, depth);
        }
        Ok(value.clone())
    }

    fn walk_dict(&self, value: &Bound<'py, PyDict>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        let mut out: Option<Bound<'py, PyDict>> = None;
        let size = value.len();
        for (k, v) in value.iter() {
            let mut action: i64 = 0;
            if !self.plain_keys.contains(&k)? {
                action = match self.actions.get_item(&k)? {
                    Some(a) => a.extract()?,
                    None => {
                        if k.is_exact_instance_of::<PyString>() {
                            self.key_action.call1((&k,))?.extract()?
                        } else {
                            0
                        }
                    }
                };
            }
            let nv: Bound<'py, PyAny>;
            if action == 0
                && !(size <= 5 && self.pair_value_keys.contains(&k)? && self.pair_is_secret(value)?)
            {
                if let Ok(s) = v.cast_exact::<PyString>() {
                    let len = py_len(s)?;
                    if skip_str(s, len) || self.clean.contains(&v)? {
                        continue;
                    }
                    let r = self.redact_text.call1((&v,))?;
                    if r.is(&v) || r.eq(&v)? {
                        if len <= 256 {
                            if self.clean.len() >= self.clean_max {
                                self.clean.clear();
                            }
                            self.clean.add(&v)?;
                        }
                        continue;
                    }
                    nv = r;
                } else if v.is_exact_instance_of::<PyDict>() || v.is_exact_instance_of::<PyList>() {
                    nv = self.walk(&v, depth + 1)?;
                } else {
                    continue; // numbers, booleans, None
                }
            } else if self.nothing_to_hide(&v)? {
                continue; // nothing to hide; a flag is no secret
            } else if action == 2 {
                nv = self.user_data.call1((&v,))?;
            } else {
                nv = self.redacted.clone().into_any();
            }
            if !nv.is(&v) {
                if out.is_none() {
                    out = Some(value.copy()?);
                }
                if let Some(o) = &out {
                    o.set_item(&k, nv)?;
                }
            }
        }
        Ok(match out {
            Some(o) => o.into_any(),
            None => value.clone().into_any(),
        })
    }

    fn walk_list(&self, value: &Bound<'py, PyList>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        let mut items: Option<Bound<'py, PyList>> = None;
        let n = value.len();
        for i in 0..n {
            let v = value.get_item(i)?;
            let mut nv: Bound<'py, PyAny>;
            let is_str = if let Ok(s) = v.cast_exact::<PyString>() {
                let len = py_len(s)?;
                nv = if skip_str(s, len) || self.clean.contains(&v)? {
                    v.clone()
                } else {
                    self.redact_text.call1((&v,))?
                };
                len > 0
            } else if v.is_exact_instance_of::<PyDict>() || v.is_exact_instance_of::<PyList>() {
                nv = self.walk(&v, depth + 1)?;
                false
            } else {
                continue; // numbers, booleans, None
            };
            // an argv list: the item after "--password" is its value
            if is_str && i > 0 && nv.is(&v) {
                let prev = value.get_item(i - 1)?;
                if let Ok(p) = prev.cast_exact::<PyString>() {
                    let dash = match p.to_str() {
                        Ok(t) => t.starts_with('-'),
                        Err(_) => true, // lone surrogates: let the reference's test decide
                    };
                    if dash && self.is_secret_flag.call1((&prev,))?.is_truthy()? {
                        nv = self.redacted.clone().into_any();
                    }
                }
            }
            if !nv.is(&v) {
                if items.is_none() {
                    items = Some(value.get_slice(0, n).cast_into::<PyList>()?);
                }
                if let Some(o) = &items {
                    o.set_item(i, nv)?;
                }
            }
        }
        Ok(match items {
            Some(o) => o.into_any(),
            None => value.clone().into_any(),
        })
    }
}

#[pymethods]
impl Redactor {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(py: Python<'_>, plain_keys: Py<PySet>, actions: Py<PyDict>, clean: Py<PySet>, clean_max: usize,
           pair_value_keys: Py<PyFrozenSet>, key_action: Py<PyAny>, redact_text: Py<PyAny>,
           pair_names: Py<PyTuple>, user_data: Py<PyAny>, is_secret_flag: Py<PyAny>, python_walk: Py<PyAny>,
           is_secret_key: Py<PyAny>, redacted: &str) -> Self {
        Redactor {
            plain_keys, actions, clean, clean_max, pair_value_keys, key_action, redact_text, pair_names,
            user_data, is_secret_flag, python_walk, is_secret_key, redacted: PyString::intern(py, redacted).unbind(),
        }
    }

    /// `_walk_python(value)`: the same result, computed here.
    fn walk<'py>(&self, py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.ctx(py).walk(value, 0)
    }

    /// `_node_parts_python(name, attrs, tags)`: a node's name, attributes and tags redacted in one call
    /// (SkyGraph's `Fragment.add`), each the same object back when nothing in it changed.
    fn parts<'py>(&self, py: Python<'py>, name: &Bound<'py, PyAny>, attrs: &Bound<'py, PyAny>,
                  tags: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let ctx = self.ctx(py);
        Ok((ctx.text(name)?, ctx.walk(attrs, 0)?, ctx.tags(tags)?))
    }

    /// The hint list compiled in (the parity test checks it against `_HINTS`).
    #[staticmethod]
    fn hints() -> Vec<&'static str> {
        HINTS.to_vec()
    }
}

impl Redactor {
    fn ctx<'a, 'py>(&'a self, py: Python<'py>) -> Ctx<'a, 'py> {
        Ctx {
            plain_keys: self.plain_keys.bind(py),
            actions: self.actions.bind(py),
            clean: self.clean.bind(py),
            clean_max: self.clean_max,
            pair_value_keys: self.pair_value_keys.bind(py),
            key_action: self.key_action.bind(py),
            redact_text: self.redact_text.bind(py),
            pair_names: self.pair_names.bind(py),
            user_data: self.user_data.bind(py),
            is_secret_flag: self.is_secret_flag.bind(py),
            python_walk: self.python_walk.bind(py),
            is_secret_key: self.is_secret_key.bind(py),
            redacted: self.redacted.bind(py),
        }
    }
}
