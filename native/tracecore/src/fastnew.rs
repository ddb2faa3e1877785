//! Instances of a `@dataclass(slots=True)` class without running its Python `__init__`.
//!
//! `SpanSummary(...)` through the generated `__init__` costs more than decoding the span. With
//! slots, every field is a member descriptor: allocate the instance with the type's own `tp_alloc` and
//! store each field through its descriptor's `tp_descr_set` (what `__init__`'s assignments do). Used
//! only when every field checks out as a member descriptor; otherwise the class is called.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

pub struct SlotMaker {
    cls: Py<PyType>,
    alloc: ffi::allocfunc,
    setters: Vec<(Py<PyAny>, ffi::descrsetfunc)>,
}

impl SlotMaker {
    pub fn new(py: Python<'_>, cls: &Bound<'_, PyAny>, fields: &[String]) -> PyResult<Option<Self>> {
        let ty = cls.cast::<PyType>()?;
        let member_type = py.import("types")?.getattr("MemberDescriptorType")?;
        let ns = ty.getattr("__dict__")?;
        let mut setters = Vec::with_capacity(fields.len());
        for f in fields {
            let d = match ns.get_item(f.as_str()) {
                Ok(d) => d,
                Err(_) => return Ok(None),
            };
            if !d.is_exact_instance(&member_type) {
                return Ok(None);
            }
            // SAFETY: a live type object; PyType_GetSlot is valid for static types since 3.10
            let set = unsafe { ffi::PyType_GetSlot(ffi::Py_TYPE(d.as_ptr()), ffi::Py_tp_descr_set) };
            if set.is_null() {
                return Ok(None);
            }
            // SAFETY: the slot holds a descrsetfunc
            let set: ffi::descrsetfunc = unsafe { std::mem::transmute(set) };
            setters.push((d.unbind(), set));
        }
        // SAFETY: as above, on the class itself (a heap type)
        let alloc = unsafe { ffi::PyType_GetSlot(ty.as_type_ptr(), ffi::Py_tp_alloc) };
        if alloc.is_null() {
            return Ok(None);
        }
        // SAFETY: the slot holds an allocfunc
        let alloc: ffi::allocfunc = unsafe { std::mem::transmute(alloc) };
        Ok(Some(SlotMaker { cls: ty.clone().unbind(), alloc, setters }))
    }

    pub fn make<'py>(&self, py: Python<'py>, values: &[Bound<'py, PyAny>]) -> PyResult<Bound<'py, PyAny>> {
        debug_assert_eq!(values.len(), self.setters.len());
        // SAFETY: tp_alloc of the class returns a new reference (or NULL with an exception set); each
        // setter is the member descriptor's own tp_descr_set, called with (descriptor, instance, value)
        unsafe {
            let obj = (self.alloc)(self.cls.bind(py).as_type_ptr(), 0);
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            let obj = Bound::from_owned_ptr(py, obj);
            for ((d, set), v) in self.setters.iter().zip(values) {
                if set(d.as_ptr(), obj.as_ptr(), v.as_ptr()) != 0 {
                    return Err(PyErr::fetch(py));
                }
            }
            Ok(obj)
        }
    }
}
