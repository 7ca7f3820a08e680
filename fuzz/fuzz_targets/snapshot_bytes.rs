//! Any bytes as shared state (what another worker, or another version, left in Envoy's shared
//! data): breaker snapshots, bulkhead counts and holder tables; decoding never panics, and whatever decodes re-encodes to bytes that decode the same.
#![no_main]

use breakwater_core::breaker::{BreakerConfig, Snapshot, WindowKind};
use breakwater_core::bulkhead::{Counts, Holders};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let configs = [
        BreakerConfig::default(),
        BreakerConfig {
            window: WindowKind::Time,
            window_size: 60,
            window_buckets: 6,
            ..BreakerConfig::default()
        },
    ];
    for config in &configs {
        if let Some(snapshot) = Snapshot::decode(config, data) {
            let mut buf = Vec::new();
            snapshot.encode(config, &mut buf);
            let again = Snapshot::decode(config, &buf).expect("re-encoded snapshot decodes");
            let mut buf2 = Vec::new();
            again.encode(config, &mut buf2);
            assert_eq!(buf, buf2, "encode/decode is not stable");
        }
    }
    if let Some(counts) = Counts::decode(data) {
        let mut buf = Vec::new();
        counts.encode(&mut buf);
        assert_eq!(Counts::decode(&buf), Some(counts));
    }
    if let Some(table) = Holders::decode(data) {
        let mut buf = Vec::new();
        table.encode(&mut buf);
        assert_eq!(
            Holders::decode(&buf),
            Some(table),
            "holders encode/decode is not stable"
        );
    }
});
