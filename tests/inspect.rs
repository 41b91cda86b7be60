//! Statistics, page inspection and the integrity check, through the public API.

// Test data: numbers cut to bytes and sizes wrap on purpose; the crate-wide lint is for values
// read from disk.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};

use wind_kvstore::{ChecksumState, Error, KVStore, OpenOptions, PageItem, PageType, WriteBatch};

fn build(path: &std::path::Path) -> KVStore {
    let store = OpenOptions::new().page_size(1024).open(path).unwrap();
    let mut batch = WriteBatch::default();
    for i in 0..3000u32 {
        batch.put(format!("key{i:05}"), format!("value {i}"));
    }
    batch.put(b"big", vec![7u8; 5000]);
    store.write(batch).unwrap();
    for i in 0..1000u32 {
        store.delete(format!("key{i:05}")).unwrap();
    }
    store.checkpoint().unwrap();
    store
}

#[test]
fn pages_and_stats_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store = build(&dir.path().join("s.db"));
    let stats = store.stats();
    let mut by_type: BTreeMap<PageType, u64> = BTreeMap::new();
    for page in store.pages() {
        *by_type.entry(page.unwrap().page_type).or_default() += 1;
    }
    for t in PageType::ALL {
        assert_eq!(by_type.get(&t).copied().unwrap_or(0), stats.pages_of(t), "{t} pages: {stats:?}");
    }
    assert_eq!(by_type.values().sum::<u64>(), stats.page_count);
    assert_eq!(stats.key_count, 2001);
    assert!(stats.tree_depth >= 2);
    assert!(stats.overflow_pages >= 5);
    assert!(stats.free_pages > 0, "deleted keys leave free pages");
    assert_eq!(stats.free_pages, store.free_pages().unwrap().len() as u64);
    assert!(stats.file_bytes >= stats.page_count * 1024);
}

#[test]
fn page_info_describes_each_kind_of_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = build(&dir.path().join("p.db"));
    let mut seen = BTreeMap::new();
    for summary in store.pages() {
        let summary = summary.unwrap();
        let info = store.page_info(summary.number).unwrap();
        assert_eq!(info.page_type, summary.page_type);
        assert_eq!(info.used_bytes + info.free_bytes, 1024, "page {}", info.number);
        match info.page_type {
            PageType::Meta => assert!(info.items.iter().any(
                |i| matches!(i, PageItem::MetaField { name, value } if name.contains("identifier") && value == "KVStore")
            )),
            PageType::Leaf => {
                assert_eq!(info.checksum, ChecksumState::Valid);
                assert!(info.items.iter().all(|i| matches!(i, PageItem::LeafEntry { .. })));
            }
            PageType::Branch => {
                assert!(matches!(info.items[0], PageItem::BranchChild { key: None, .. }));
                assert_eq!(info.items.len() as u32, info.item_count);
            }
            PageType::Overflow => assert!(matches!(info.items[0], PageItem::OverflowData { .. })),
            PageType::Freelist => assert!(info.items.iter().all(|i| matches!(i, PageItem::FreePage { .. }))),
            PageType::Free => assert!(info.items.is_empty()),
        }
        seen.insert(info.page_type, info.number);
    }
    for t in PageType::ALL {
        assert!(seen.contains_key(&t), "no {t} page in the test store");
    }
    let big_leaf = store
        .pages()
        .map(|p| p.unwrap())
        .filter(|p| p.page_type == PageType::Leaf)
        .map(|p| store.page_info(p.number).unwrap())
        .find(|i| {
            i.items
                .iter()
                .any(|it| matches!(it, PageItem::LeafEntry { key, overflow: Some(_), .. } if key == b"big"))
        });
    assert!(big_leaf.is_some(), "the leaf holding the large value points at its overflow chain");
    assert!(matches!(store.page_info(store.page_count()), Err(Error::InvalidOption(_))));
}

#[test]
fn a_flipped_byte_is_named_by_check_and_by_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flip.db");
    let store = build(&path);
    let leaf = store.pages().map(|p| p.unwrap()).find(|p| p.page_type == PageType::Leaf).unwrap().number;
    store.close().unwrap();

    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let offset = leaf * 1024 + 100;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[b[0] ^ 0x10]).unwrap();
    drop(f);

    let store = KVStore::open(&path, None).unwrap();
    let report = store.check().unwrap();
    assert!(!report.is_ok());
    assert!(
        report.problems.iter().any(|p| p.page == Some(leaf) && p.message.contains("checksum")),
        "{:?}",
        report.problems
    );
    assert!(matches!(store.page_info(leaf).unwrap().checksum, ChecksumState::Invalid { .. }));
    // Some key lives on that page: reading it is the corrupted error naming the page.
    let errors: Vec<_> = (0..3000u32).filter_map(|i| store.get(format!("key{i:05}")).err()).collect();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| matches!(e, Error::Corrupted { page, .. } if *page == leaf)), "{errors:?}");
    let scan_error = store.iter().find_map(|r| r.err());
    assert!(matches!(scan_error, Some(Error::Corrupted { page, .. }) if page == leaf));
}

#[test]
fn progress_reaches_the_page_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = build(&dir.path().join("g.db"));
    let mut last = (0, 0);
    let report = store.check_with_progress(&mut |done, total| last = (done, total)).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(last, (store.page_count(), store.page_count()));
    assert_eq!(report.pages_checked, store.page_count());
}
