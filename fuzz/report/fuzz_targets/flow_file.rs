//! `o365flow report` on a flow file it did not write: the bytes as a flows.parquet, through
//! `read_flow_files` (polars' Parquet reader and the run metadata in its key-value metadata),
//! `RunMeta::merge`, `audit::build` and every renderer. Any file is read or refused with an
//! error; what is read renders.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use o365flow::catalog::Catalog;
use o365flow::report::audit::{self, render};
use o365flow::report::meta::RunMeta;
use o365flow::report::out::read_flow_files;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::embedded().expect("embedded catalog"))
}

fuzz_target!(|data: &[u8]| {
    // read_flow_files takes paths: one file per fuzzing process, rewritten for each input.
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("o365flow-fuzz-{}.parquet", std::process::id()))
    });
    std::fs::write(path, data).expect("temporary flow file");
    let Ok((flows, metas)) = read_flow_files(std::slice::from_ref(path)) else {
        return;
    };
    let meta = RunMeta::merge(&metas);
    let Ok(report) = audit::build(&flows, &meta, catalog()) else {
        return;
    };
    let _ = render::summary_json(&report);
    let _ = render::markdown(&report);
    let _ = render::html(&report);
});
