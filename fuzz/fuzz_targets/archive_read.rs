//! Fuzz the package archive reader (src/engine/packages/archive): any bytes, bzip2 or
//! plain, must give an archive or an error, never a panic, a hang or a huge allocation;
//! and an archive that reads must write and read back to the same entries.

#![no_main]

use devsky::engine::packages::archive::{read, read_header, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_header(data);
    if let Ok(a) = read(data) {
        // Writing may refuse a header without a name (Coresky archives have none) or one
        // that grows past its limit (format, checksum).
        let Ok(bytes) = write(&a) else { return };
        let back = read(&bytes).expect("what devsky writes must read");
        assert_eq!(back.entries, a.entries);
    }
});
