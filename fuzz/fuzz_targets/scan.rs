#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| medshare_fuzz::scan(data));
