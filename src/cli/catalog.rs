//! `o365flow catalog`: show, import, update and diff endpoint catalogs.

use anyhow::Context;

use o365flow::catalog::store::{self, Instance};
use o365flow::catalog::Catalog;

use super::args::{CatalogCommand, EXIT_CLEAN};

pub(super) fn run(command: CatalogCommand) -> anyhow::Result<u8> {
    match command {
        CatalogCommand::Show { catalog } => {
            let catalog = match &catalog {
                Some(path) => Catalog::from_file(path)?,
                None => default_catalog()?,
            };
            print!("{}", catalog_summary(&catalog));
        }
        CatalogCommand::Import {
            file,
            instance,
            version,
        } => {
            let catalog = Catalog::from_file(&file)?;
            let version = version.unwrap_or_else(|| catalog.version().to_owned());
            let text =
                std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
            let data =
                store::data_dir().context("no data directory: set O365FLOW_DATA_DIR or HOME")?;
            let path = store::store(
                &data,
                instance,
                &text,
                &version,
                &file.display().to_string(),
            )?;
            println!(
                "stored {} endpoint sets as {} catalog version {version}: {}",
                catalog.sets().len(),
                instance.service_name(),
                path.display()
            );
        }
        CatalogCommand::Update {
            instance,
            proxy,
            service_url,
        } => {
            use o365flow::catalog::update::{update, UpdateOutcome};
            let data =
                store::data_dir().context("no data directory: set O365FLOW_DATA_DIR or HOME")?;
            match update(&data, instance, &service_url, proxy.as_deref())? {
                UpdateOutcome::UpToDate { version } => {
                    println!(
                        "{} catalog is up to date: version {version}",
                        instance.service_name()
                    )
                }
                UpdateOutcome::Stored { version, path } => println!(
                    "stored {} catalog version {version}: {}",
                    instance.service_name(),
                    path.display()
                ),
            }
        }
        CatalogCommand::Diff { old, new, json } => {
            let old = Catalog::raw_from_file(&old)?;
            let new = Catalog::raw_from_file(&new)?;
            let diff = o365flow::catalog::diff::diff(&old, &new);
            if json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
            } else {
                print!("{}", diff.to_text());
            }
        }
    }
    Ok(EXIT_CLEAN)
}

/// The catalog `analyze` uses without `--catalog`: the newest stored worldwide catalog, else
/// the embedded snapshot.
pub(super) fn default_catalog() -> anyhow::Result<Catalog> {
    if let Some(stored) = store::data_dir().and_then(|d| store::newest(&d, Instance::Worldwide)) {
        return Ok(stored?);
    }
    Catalog::embedded().context("embedded catalog")
}

/// `catalog show`: source, version, and a table of set counts per service area and category.
fn catalog_summary(catalog: &Catalog) -> String {
    use o365flow::catalog::Category;
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let mut table: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for set in catalog.sets() {
        let column = match set.category {
            Category::Optimize => 0,
            Category::Allow => 1,
            Category::Default => 2,
        };
        if let Some(cell) = table
            .entry(set.service_area.to_string())
            .or_default()
            .get_mut(column)
        {
            *cell += 1;
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "catalog: {}", catalog.name());
    let _ = writeln!(out, "version: {}", catalog.version());
    let _ = writeln!(out, "endpoint sets: {}", catalog.sets().len());
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>7} {:>8} {:>6}",
        "service", "Optimize", "Allow", "Default", "total"
    );
    for (area, counts) in &table {
        let _ = writeln!(
            out,
            "  {area:<12} {:>9} {:>7} {:>8} {:>6}",
            counts[0],
            counts[1],
            counts[2],
            counts.iter().sum::<usize>()
        );
    }
    out
}
