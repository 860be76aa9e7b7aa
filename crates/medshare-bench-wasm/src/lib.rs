//! `medshare-classify` as a bare WebAssembly module (no JavaScript glue) so that
//! `medshare-bench classify --wasm` can time the same classification under Node.js. Owns
//! nothing else; the browser will use a wasm-bindgen facade instead.
//!
//! Exports: `alloc(len) -> ptr`, `dealloc(ptr, len)`, and `classify(ptr, len) -> u32`, the index
//! of the document class in `DocumentClass::ALL` (plus 100 when a result is critical).

/// Reserve `len` bytes in the module's memory for the host to fill.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(len);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

/// Release what [`alloc`] reserved.
///
/// # Safety
/// `ptr` and `len` must come from one [`alloc`] call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    // SAFETY: the caller passes back exactly what `alloc` returned.
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len) });
}

/// Classify the `len` bytes at `ptr`.
///
/// # Safety
/// `ptr..ptr+len` must be initialised memory reserved by [`alloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn classify(ptr: *const u8, len: usize) -> u32 {
    // SAFETY: the caller guarantees the range is initialised and owned by this module.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    code(bytes)
}

/// The result code `classify` returns, for native tests.
pub fn code(bytes: &[u8]) -> u32 {
    let c = medshare_classify::classify(bytes);
    let class = medshare_classify::DocumentClass::ALL
        .iter()
        .position(|k| *k == c.class)
        .unwrap_or(0) as u32;
    class + if c.critical { 100 } else { 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes() {
        let oru =
            b"MSH|^~\\&|L|H|||20260101||ORU^R01|1|P|2.5\rOBX|1|NM|2823-3^K^LN||7.1|mmol/L|||||F\r";
        assert_eq!(super::code(oru), 100);
        assert_eq!(super::code(b"hello"), 12);
    }
}
