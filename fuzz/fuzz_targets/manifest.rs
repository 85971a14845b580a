#![no_main]
// The body is pertbench_fuzzing's (its tests replay this target's corpus).
libfuzzer_sys::fuzz_target!(|data: &[u8]| pertbench_fuzzing::run("manifest", data));
