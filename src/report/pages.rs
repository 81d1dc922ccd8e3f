//! A check of a flow file's page headers before polars decodes it.
//!
//! polars-parquet 0.55 turns a page header's `i32` counts into `usize` with `as`: a data page
//! whose `num_values` is negative becomes a validity bitmap of about 2^61 bytes, the allocation
//! fails and the process aborts (found by the fuzz target `flow_file`; the input is kept in
//! `fuzz/regressions/flow_file/`). An abort is not a panic, so `report` could not turn it into
//! an error naming the file. So every page header is read here first, with thrift reads bounded
//! by the column chunk, and a file whose counts are negative, disagree with its metadata, or
//! exceed what a flow file can hold is refused. polars-parquet has no public header reader of
//! its own (its `read_page_header` is private); the thrift decoding is polars-parquet-format's.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use polars_parquet::parquet::metadata::{ColumnChunkMetadata, FileMetadata};
use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
use polars_parquet_format::{PageHeader, PageType};

/// The most rows a row group may claim. o365flow writes at most 262,144 per row group (polars'
/// default); 64 times that still bounds every column's buffers at a few hundred megabytes,
/// where a forged count would otherwise ask for exabytes.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 24;

/// The most values a column chunk may hold: a list column (ALPN, at most 32 per row) has more
/// values than rows.
pub const MAX_CHUNK_VALUES: i64 = 1 << 26;

/// Checks every page header of every column chunk of `file` (whose footer is `metadata`).
/// The error says what is wrong, for a message that names the file.
pub fn check(file: &File, metadata: &FileMetadata) -> Result<(), String> {
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut reader = BufReader::with_capacity(4096, file);
    for (group_index, group) in metadata.row_groups.iter().enumerate() {
        let rows = group.num_rows();
        if rows > MAX_ROW_GROUP_ROWS {
            return Err(format!(
                "row group {group_index} claims {rows} rows (at most {MAX_ROW_GROUP_ROWS})"
            ));
        }
        for chunk in group.parquet_columns() {
            check_chunk(&mut reader, file_len, chunk, rows).map_err(|reason| {
                format!(
                    "row group {group_index}, column {}: {reason}",
                    chunk.descriptor().path_in_schema.join(".")
                )
            })?;
        }
    }
    Ok(())
}

/// Walks one column chunk's pages the way polars' page reader does (a dictionary page first if
/// there is one, then data pages until the chunk's values are seen) and checks each header.
fn check_chunk<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
    chunk: &ColumnChunkMetadata,
    rows: usize,
) -> Result<(), String> {
    let start = u64::try_from(
        chunk
            .dictionary_page_offset()
            .unwrap_or(chunk.data_page_offset()),
    )
    .map_err(|_| "a negative page offset".to_owned())?;
    let size = u64::try_from(chunk.compressed_size())
        .map_err(|_| "a negative compressed size".to_owned())?;
    let end = start
        .checked_add(size)
        .filter(|&end| end <= file_len)
        .ok_or_else(|| format!("its bytes end past the file's {file_len}"))?;
    let total = chunk.num_values();
    if !(0..=MAX_CHUNK_VALUES).contains(&total) {
        return Err(format!("{total} values (between 0 and {MAX_CHUNK_VALUES})"));
    }
    let descriptor = &chunk.descriptor().descriptor;
    // Without repetition, one value (or null) per row.
    if descriptor.max_rep_level == 0 && usize::try_from(total).ok() != Some(rows) {
        return Err(format!("{total} values in a row group of {rows} rows"));
    }
    let mut position = start;
    let mut seen: i64 = 0;
    let mut first = true;
    while seen < total || first {
        if position >= end {
            if first {
                // An empty chunk: polars reads no header either.
                break;
            }
            return Err(format!("its pages hold {seen} of its {total} values"));
        }
        let (header, header_len) = read_header(reader, position, end - position)?;
        position += header_len;
        let page_size = u64::try_from(header.compressed_page_size)
            .map_err(|_| "a page of negative size".to_owned())?;
        if header.uncompressed_page_size < 0 {
            return Err("a page of negative uncompressed size".to_owned());
        }
        position = position
            .checked_add(page_size)
            .filter(|&after| after <= end)
            .ok_or_else(|| "a page runs past its column chunk".to_owned())?;
        let remaining = total - seen;
        match header.type_ {
            PageType::DICTIONARY_PAGE if first => {
                let dict = header
                    .dictionary_page_header
                    .ok_or_else(|| "a dictionary page without its header".to_owned())?;
                if !(0..=MAX_CHUNK_VALUES).contains(&i64::from(dict.num_values)) {
                    return Err(format!("a dictionary of {} values", dict.num_values));
                }
            }
            PageType::DATA_PAGE => {
                let data = header
                    .data_page_header
                    .ok_or_else(|| "a data page without its header".to_owned())?;
                seen += page_values(data.num_values, remaining)?;
            }
            PageType::DATA_PAGE_V2 => {
                let data = header
                    .data_page_header_v2
                    .ok_or_else(|| "a data page without its header".to_owned())?;
                let values = page_values(data.num_values, remaining)?;
                let within = |count: i32| (0..=values).contains(&i64::from(count));
                if !within(data.num_nulls) || !within(data.num_rows) {
                    return Err(format!(
                        "a page of {values} values claims {} nulls and {} rows",
                        data.num_nulls, data.num_rows
                    ));
                }
                let levels = i64::from(data.definition_levels_byte_length)
                    + i64::from(data.repetition_levels_byte_length);
                if data.definition_levels_byte_length < 0
                    || data.repetition_levels_byte_length < 0
                    || levels > i64::from(header.compressed_page_size)
                    || levels > i64::from(header.uncompressed_page_size)
                {
                    return Err("levels longer than their page".to_owned());
                }
                seen += values;
            }
            other => return Err(format!("an unexpected page of type {}", other.0)),
        }
        first = false;
    }
    Ok(())
}

/// A data page's value count, between 0 and what its chunk has left.
fn page_values(count: i32, remaining: i64) -> Result<i64, String> {
    let count = i64::from(count);
    if (0..=remaining).contains(&count) {
        Ok(count)
    } else {
        Err(format!("a page of {count} values where {remaining} remain"))
    }
}

/// The page header at `position`, read with at most `limit` bytes, and its length.
fn read_header<R: Read + Seek>(
    reader: &mut R,
    position: u64,
    limit: u64,
) -> Result<(PageHeader, u64), String> {
    reader
        .seek(SeekFrom::Start(position))
        .map_err(|e| e.to_string())?;
    let mut bounded = reader.take(limit);
    let bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    let header = {
        let mut protocol = TCompactInputProtocol::new(&mut bounded, bytes);
        PageHeader::read_from_in_protocol(&mut protocol)
            .map_err(|e| format!("an unreadable page header ({e})"))?
    };
    Ok((header, limit - bounded.limit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_values_are_bounded_by_what_the_chunk_has_left() {
        assert_eq!(page_values(83, 100), Ok(83));
        assert_eq!(page_values(0, 0), Ok(0));
        assert!(page_values(-126, 100).is_err());
        assert!(page_values(101, 100).is_err());
    }

    /// Files polars writes pass: flat and list columns, nulls, a dictionary, many row groups
    /// and an empty table.
    #[test]
    fn files_polars_writes_pass() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let rows = 10_000;
        let names: Vec<Option<String>> = (0..rows)
            .map(|i| (i % 7 != 0).then(|| format!("host{}.example", i % 13)))
            .collect();
        let lists: Vec<Series> = (0..rows)
            .map(|i| Series::new("".into(), vec!["h2"; i % 4]))
            .collect();
        let frame = df![
            "n" => (0..rows as u64).collect::<Vec<_>>(),
            "name" => names,
            "alpn" => lists,
        ]
        .unwrap();
        for (label, mut frame, group_rows) in [
            ("one group", frame.clone(), None),
            ("many groups", frame.clone(), Some(999)),
            ("empty", frame.head(Some(0)), None),
        ] {
            let path = dir.path().join(format!("{label}.parquet"));
            let mut file = File::create(&path).unwrap();
            ParquetWriter::new(&mut file)
                .with_row_group_size(group_rows)
                .finish(&mut frame)
                .unwrap();
            let file = File::open(&path).unwrap();
            let metadata = ParquetReader::new(file.try_clone().unwrap())
                .get_metadata()
                .unwrap()
                .clone();
            if label == "many groups" {
                assert_eq!(metadata.row_groups.len(), 10);
            }
            assert_eq!(check(&file, &metadata), Ok(()), "{label}");
        }
    }
}
