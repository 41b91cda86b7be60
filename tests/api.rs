//! The library API through its public face.

use std::ops::Bound;

use wind_kvstore::{Durability, Error, KVStore, OpenOptions, WriteBatch};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The smallest, the default and the largest page size: every test below runs at each.
const PAGE_SIZES: [u32; 3] = [1024, 4096, 65536];

fn open_sized(path: &std::path::Path, page_size: u32, identifier: Option<&str>) -> KVStore {
    let mut o = OpenOptions::new();
    o.page_size(page_size);
    if let Some(id) = identifier {
        o.identifier(id);
    }
    o.open(path).unwrap()
}

#[test]
fn put_get_delete_and_reopen() {
    for page_size in PAGE_SIZES {
        put_get_delete_and_reopen_at(page_size);
    }
}

fn put_get_delete_and_reopen_at(page_size: u32) {
    let dir = tmp();
    let path = dir.path().join("a.db");
    {
        let store = open_sized(&path, page_size, Some("MyAppDB"));
        assert_eq!(store.get_identifier(), "MyAppDB");
        store.put(b"username", b"alice").unwrap();
        store.put(b"other", b"x").unwrap();
        assert_eq!(store.get(b"username").unwrap().as_deref(), Some(&b"alice"[..]));
        assert!(store.delete(b"other").unwrap());
        assert!(!store.delete(b"other").unwrap());
        assert_eq!(store.len().unwrap(), 1);
        store.close().unwrap();
    }
    let store = KVStore::open(&path, Some("Ignored")).unwrap();
    assert_eq!(store.get_identifier(), "MyAppDB", "an existing store keeps its identifier");
    assert_eq!(store.get(b"username").unwrap().as_deref(), Some(&b"alice"[..]));
    assert_eq!(store.get(b"other").unwrap(), None);
    assert_eq!(store.len().unwrap(), 1);
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn drop_without_close_loses_nothing() {
    let dir = tmp();
    let path = dir.path().join("d.db");
    for durability in [Durability::Immediate, Durability::Buffered] {
        {
            let store = OpenOptions::new().durability(durability).open(&path).unwrap();
            for i in 0..500u32 {
                store.put(i.to_be_bytes(), format!("v{i}")).unwrap();
            }
        }
        let store = KVStore::open(&path, None).unwrap();
        assert_eq!(store.len().unwrap(), 500);
        assert_eq!(store.get(7u32.to_be_bytes()).unwrap().as_deref(), Some(&b"v7"[..]));
        drop(store);
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn identifier_is_persisted_and_limited() {
    let dir = tmp();
    let path = dir.path().join("id.db");
    let mut store = KVStore::open(&path, None).unwrap();
    assert_eq!(store.get_identifier(), "KVStore");
    store.set_identifier("UserDatabase").unwrap();
    let long = "x".repeat(65);
    assert!(matches!(store.set_identifier(&long), Err(Error::IdentifierTooLong { len: 65, max: 64 })));
    assert!(matches!(
        KVStore::open(dir.path().join("other.db"), Some(&long)),
        Err(Error::IdentifierTooLong { .. })
    ));
    drop(store);
    let store = KVStore::open(&path, None).unwrap();
    assert_eq!(store.get_identifier(), "UserDatabase");
}

#[test]
fn batches_scans_and_prefixes() {
    for page_size in PAGE_SIZES {
        batches_scans_and_prefixes_at(page_size);
    }
}

fn batches_scans_and_prefixes_at(page_size: u32) {
    let dir = tmp();
    let store = open_sized(&dir.path().join("s.db"), page_size, None);
    let mut batch = WriteBatch::default();
    for i in 0..2000u32 {
        batch.put(format!("k{i:05}"), format!("value {i}"));
    }
    batch.put(b"user:1", b"a").put(b"user:2", b"b").put(b"usex", b"c").delete(b"k00001");
    store.write(batch).unwrap();
    assert_eq!(store.len().unwrap(), 2002);
    let users: Vec<_> = store.prefix(b"user:").map(|r| r.unwrap().0).collect();
    assert_eq!(users, vec![b"user:1".to_vec(), b"user:2".to_vec()]);
    let keys: Vec<_> =
        store.range(b"k00998".as_slice()..b"k01001".as_slice()).map(|r| r.unwrap().0).collect();
    assert_eq!(keys, vec![b"k00998".to_vec(), b"k00999".to_vec(), b"k01000".to_vec()]);
    let all: Vec<_> = store.iter().map(|r| r.unwrap().0).collect();
    assert_eq!(all.len(), 2002);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let rev_bound: Vec<_> = store
        .range_bounds(Bound::Excluded(b"k01998".to_vec()), Bound::Included(b"k01999".to_vec()))
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(rev_bound, vec![b"k01999".to_vec()]);
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.keys_checked, 2002);
}

#[test]
fn large_values_and_binary_keys_round_trip() {
    for page_size in PAGE_SIZES {
        large_values_and_binary_keys_round_trip_at(page_size);
    }
}

fn large_values_and_binary_keys_round_trip_at(page_size: u32) {
    let dir = tmp();
    let path = dir.path().join("big.db");
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let key: Vec<u8> = (0..255u8).rev().collect();
    {
        let store = open_sized(&path, page_size, None);
        store.put(&key, &big).unwrap();
        store.put(b"small", b"s").unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap(), big);
        assert_eq!(store.value_len(&key).unwrap(), Some(big.len() as u64));
        assert_eq!(store.get_prefix(&key, 10).unwrap().unwrap(), &big[..10]);
        assert!(store.check().unwrap().is_ok());
    }
    let store = KVStore::open(&path, None).unwrap();
    assert_eq!(store.get(&key).unwrap().unwrap(), big);
    let stats = store.stats();
    assert!(stats.overflow_pages >= big.len() as u64 / page_size as u64, "{stats:?}");
    store.delete(&key).unwrap();
    store.checkpoint().unwrap();
    assert!(store.check().unwrap().is_ok());
    assert!(store.stats().free_pages >= big.len() as u64 / page_size as u64);
}

/// `get_into` reads what `get` reads into the caller's buffer: an inline value, an overflow
/// chain, an empty value, a missing key (buffer emptied), in the writer's state and from a
/// snapshot taken before later writes; the buffer's capacity is reused.
#[test]
fn get_into_reads_what_get_reads_into_one_buffer() {
    let dir = tmp();
    let store = KVStore::open(dir.path().join("g.db"), None).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    store.put(b"big", &big).unwrap();
    store.put(b"empty", b"").unwrap();
    store.put(b"small", b"abc").unwrap();
    let mut buf = Vec::new();
    assert!(store.get_into(b"big", &mut buf).unwrap());
    assert_eq!(buf, big);
    let capacity = buf.capacity();
    let at = buf.as_ptr();
    assert!(store.get_into(b"small", &mut buf).unwrap());
    assert_eq!(buf, b"abc");
    assert_eq!((buf.capacity(), buf.as_ptr()), (capacity, at), "the buffer is reused, not replaced");
    assert!(store.get_into(b"empty", &mut buf).unwrap());
    assert!(buf.is_empty());
    buf.extend_from_slice(b"stale");
    assert!(!store.get_into(b"missing", &mut buf).unwrap());
    assert!(buf.is_empty(), "a missing key leaves nothing of the last value");

    let snapshot = store.snapshot();
    store.put(b"small", b"changed").unwrap();
    store.delete(b"big").unwrap();
    assert!(snapshot.get_into(b"big", &mut buf).unwrap());
    assert_eq!(buf, big, "the snapshot still reads the chain it saw");
    assert!(snapshot.get_into(b"small", &mut buf).unwrap());
    assert_eq!(buf, b"abc");
    assert!(!store.get_into(b"big", &mut buf).unwrap());
    assert!(store.get_into(b"small", &mut buf).unwrap());
    assert_eq!(buf, b"changed");
    // Every key the store holds reads the same through both calls, across a checkpoint.
    store.checkpoint().unwrap();
    for (key, value) in store.iter().map(|kv| kv.unwrap()) {
        assert!(store.get_into(&key, &mut buf).unwrap());
        assert_eq!(buf, value);
        assert_eq!(store.get(&key).unwrap(), Some(value));
    }
}

/// The chunks of one `get_chunks` call, and whether the key was found.
fn chunks_of(read: impl FnOnce(&mut dyn FnMut(&[u8])) -> wind_kvstore::Result<bool>) -> (bool, Vec<Vec<u8>>) {
    let mut chunks = Vec::new();
    let found = read(&mut |c: &[u8]| chunks.push(c.to_vec())).unwrap();
    (found, chunks)
}

/// `get_chunks` hands over what `get` reads, in order and never an empty chunk: a value in an
/// overflow chain a page's data at a time (from the writer's map, and copied by a read-only
/// handle in another), a small value in one chunk (from the write buffer and from a leaf), an
/// empty value and a missing key in none; a snapshot's chunks are of its state.
#[test]
fn get_chunks_hands_over_what_get_reads_a_page_at_a_time() {
    let dir = tmp();
    let path = dir.path().join("c.db");
    let store = open_sized(&path, 4096, None);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    store.put(b"big", &big).unwrap();
    store.put(b"empty", b"").unwrap();
    store.put(b"small", b"abc").unwrap();
    let check_big = |(found, chunks): (bool, Vec<Vec<u8>>)| {
        assert!(found);
        assert_eq!(chunks.concat(), big);
        assert!(chunks.len() >= big.len() / 4096, "{} chunks: a page's data at a time", chunks.len());
        assert!(chunks.iter().all(|c| !c.is_empty() && c.len() < 4096));
    };
    check_big(chunks_of(|f| store.get_chunks(b"big", f)));
    // Still in the write buffer, then in a leaf after the checkpoint.
    assert_eq!(chunks_of(|f| store.get_chunks(b"small", f)), (true, vec![b"abc".to_vec()]));
    assert_eq!(chunks_of(|f| store.get_chunks(b"empty", f)), (true, vec![]));
    assert_eq!(chunks_of(|f| store.get_chunks(b"missing", f)), (false, vec![]));
    store.checkpoint().unwrap();
    assert_eq!(chunks_of(|f| store.get_chunks(b"small", f)), (true, vec![b"abc".to_vec()]));
    assert_eq!(chunks_of(|f| store.get_chunks(b"empty", f)), (true, vec![]));

    let reader = OpenOptions::new().read_only(true).open(&path).unwrap();
    check_big(chunks_of(|f| reader.get_chunks(b"big", f)));

    let snapshot = store.snapshot();
    store.put(b"big", b"replaced").unwrap();
    store.delete(b"small").unwrap();
    check_big(chunks_of(|f| snapshot.get_chunks(b"big", f)));
    assert_eq!(chunks_of(|f| snapshot.get_chunks(b"small", f)), (true, vec![b"abc".to_vec()]));
    assert_eq!(chunks_of(|f| store.get_chunks(b"big", f)), (true, vec![b"replaced".to_vec()]));
    assert_eq!(chunks_of(|f| store.get_chunks(b"small", f)), (false, vec![]));
}

/// The callback may use the store, writes included, and the value it is handed stays the one
/// committed when the call began: commits made from inside it (the value deleted and written
/// again, another large value beside it, checkpoints between, the file growing under the map
/// the call reads) change none of the chunks still to come.
#[test]
fn get_chunks_reads_one_state_while_its_callback_writes() {
    let dir = tmp();
    let store = open_sized(&dir.path().join("w.db"), 4096, None);
    let old: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let new: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8 ^ 0x5a).collect();
    store.put(b"v", &old).unwrap();
    store.checkpoint().unwrap();
    let mut seen = Vec::new();
    let mut calls = 0;
    let found = store
        .get_chunks(b"v", |c| {
            seen.extend_from_slice(c);
            calls += 1;
            if calls == 3 {
                let file_before = store.stats().file_bytes;
                store.delete(b"v").unwrap();
                store.checkpoint().unwrap();
                store.put(b"other", &new).unwrap();
                store.put(b"v", &new).unwrap();
                store.checkpoint().unwrap();
                assert_eq!(store.get(b"v").unwrap(), Some(new.clone()), "reads inside the callback");
                // The pages the call still reads are kept for it: the new values grew the file
                // (mapped again while the call reads the old map).
                assert!(store.stats().file_bytes > file_before);
            }
        })
        .unwrap();
    assert!(found);
    assert!(calls > 3);
    assert!(seen == old, "the chunks after the commits are still the old value's");
    assert_eq!(store.get(b"v").unwrap(), Some(new));
}

#[test]
fn limits_are_errors() {
    let dir = tmp();
    let store = OpenOptions::new().page_size(1024).open(dir.path().join("l.db")).unwrap();
    let max = store.max_key_bytes();
    assert!(max >= 255);
    store.put(vec![1u8; max], b"ok").unwrap();
    assert!(matches!(store.put(vec![1u8; max + 1], b"no"), Err(Error::KeyTooLarge { .. })));
    assert!(matches!(
        OpenOptions::new().page_size(3000).open(dir.path().join("x.db")),
        Err(Error::InvalidOption(_))
    ));
}

#[test]
fn compaction_shrinks_and_keeps_everything() {
    for page_size in PAGE_SIZES {
        compaction_shrinks_and_keeps_everything_at(page_size);
    }
}

fn compaction_shrinks_and_keeps_everything_at(page_size: u32) {
    let dir = tmp();
    let path = dir.path().join("c.db");
    let mut store = OpenOptions::new()
        .identifier("Before")
        .page_size(page_size)
        .durability(Durability::Buffered)
        .open(&path)
        .unwrap();
    for i in 0..20_000u32 {
        store.put(format!("key{i:06}"), vec![(i % 251) as u8; 100]).unwrap_or_else(|e| panic!("{e}"));
    }
    // In the file before the deletes (else they would cancel the puts in the write buffer and
    // the file would never grow).
    store.checkpoint().unwrap();
    for i in 0..19_000u32 {
        store.delete(format!("key{i:06}")).unwrap();
    }
    store.set_identifier("After").unwrap();
    store.checkpoint().unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    store.compact().unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after * 5 < before, "{before} -> {after}");
    assert_eq!(store.len().unwrap(), 1000);
    assert!(store.check().unwrap().is_ok());
    store.put(b"new", b"after compaction").unwrap();
    drop(store);
    let store = KVStore::open(&path, None).unwrap();
    assert_eq!(store.get_identifier(), "After");
    assert_eq!(store.len().unwrap(), 1001);
    assert_eq!(store.get(b"key019500").unwrap().unwrap(), vec![(19_500 % 251) as u8; 100]);
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn second_writer_is_locked_out_and_a_reader_is_not() {
    let dir = tmp();
    let path = dir.path().join("lock.db");
    let store = KVStore::open(&path, None).unwrap();
    store.put(b"k", b"v").unwrap();
    assert!(matches!(KVStore::open(&path, None), Err(Error::Locked { .. })));
    let reader = OpenOptions::new().read_only(true).open(&path).unwrap();
    assert_eq!(reader.get(b"k").unwrap().as_deref(), Some(&b"v"[..]), "a reader replays the log");
    assert!(matches!(reader.put(b"x", b"y"), Err(Error::ReadOnly)));
}

#[test]
fn opening_a_file_that_is_not_a_store_leaves_nothing_beside_it() {
    let dir = tmp();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"shopping list: eggs, milk, and a great deal more than 128 bytes of text so the header is read whole ...........................................").unwrap();
    for read_only in [false, true] {
        let result = OpenOptions::new().read_only(read_only).open(&path);
        assert!(matches!(result, Err(Error::NotAStore { .. })), "{result:?}");
        assert!(!wind_kvstore::log_path(&path).exists(), "a log was left beside a file that is not a store");
    }
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["notes.txt"], "the file is alone, as it was");
    // A store whose log is simply missing still opens (and gets its log back).
    let store_path = dir.path().join("s.db");
    KVStore::open(&store_path, None).unwrap().close().unwrap();
    std::fs::remove_file(wind_kvstore::log_path(&store_path)).unwrap();
    let store = KVStore::open(&store_path, None).unwrap();
    store.put(b"k", b"v").unwrap();
    assert!(wind_kvstore::log_path(&store_path).exists());
}

#[test]
fn refresh_moves_a_read_only_handle_to_the_newest_commit() {
    let dir = tmp();
    let path = dir.path().join("r.db");
    let writer = OpenOptions::new().checkpoint_log_bytes(64 * 1024).open(&path).unwrap();
    writer.put(b"before", b"1").unwrap();
    let mut reader = OpenOptions::new().read_only(true).open(&path).unwrap();
    writer.put(b"after", b"2").unwrap();
    assert_eq!(reader.get(b"after").unwrap(), None, "a read-only handle reads the state of its open");
    let version = reader.data_version();
    reader.refresh().unwrap();
    assert!(reader.data_version() > version, "data_version grows when the handle moves on");
    assert_eq!(reader.get(b"after").unwrap().as_deref(), Some(&b"2"[..]), "commit still in the log");
    // Commits folded into the file by a checkpoint are seen as well.
    for i in 0..2_000u32 {
        writer.put(format!("bulk{i:05}"), [7u8; 40]).unwrap();
    }
    writer.checkpoint().unwrap();
    writer.delete(b"before").unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.len().unwrap(), 2_001);
    assert_eq!(reader.get(b"before").unwrap(), None);
    // With nothing new on disk, data_version stays and refresh does not open the store again
    // (an open would publish a new state and move data_version).
    let version = reader.data_version();
    assert_eq!(reader.data_version(), version);
    reader.refresh().unwrap();
    assert_eq!(reader.data_version(), version, "nothing changed: refresh is a look at the files");
    writer.put(b"later", b"3").unwrap();
    assert!(reader.data_version() > version, "another handle's commit moves data_version");
    reader.refresh().unwrap();
    assert_eq!(reader.get(b"later").unwrap().as_deref(), Some(&b"3"[..]));
    // A writable handle sees its own commits: refresh changes nothing.
    let mut writer = writer;
    writer.refresh().unwrap();
    assert_eq!(writer.len().unwrap(), 2_002);
}

#[test]
fn readers_say_how_many_pages_each_one_holds_back() {
    let dir = tmp();
    let path = dir.path().join("held.db");
    let writer = OpenOptions::new().page_size(1024).open(&path).unwrap();
    let rewrite = |fill: u8| {
        for i in 0..2_000 {
            writer.put(format!("k{i:05}"), vec![fill; 50]).unwrap();
        }
        writer.checkpoint().unwrap();
    };
    rewrite(b'x');
    let reader = OpenOptions::new().read_only(true).open(&path).unwrap();
    let held = |store: &KVStore| store.readers().unwrap().iter().map(|r| r.pages_held).collect::<Vec<_>>();
    assert_eq!(held(&writer), [Some(0)], "nothing was freed since the checkpoint it pins");
    rewrite(b'y');
    let after = held(&writer);
    assert!(matches!(after[..], [Some(n)] if n > 100), "the reader holds the old tree's pages: {after:?}");
    assert_eq!(held(&reader), after, "a read-only handle reads the same from the file");
    use wind_kvstore::command::{FileAccess, Output, Statement, execute_shared};
    for store in [&writer, &reader] {
        match execute_shared(store, &Statement::Readers, &FileAccess::Denied).unwrap() {
            Output::Readers(table) => {
                assert_eq!(Some(table.pages_held_for_readers), after[0], "READERS sums up the same")
            }
            other => panic!("READERS answered {other:?}"),
        }
    }
    drop(reader);
    assert!(writer.readers().unwrap().is_empty());
}

/// Compaction writes the new file from the tree and the write buffer merged (the buffer is not
/// folded into the old file first): puts over small and overflow values, deletes of both, new
/// keys between and past the old ones, commits still in the log's memory buffer (buffered
/// durability). Everything is in the new file, the log starts over, and writes after it go on.
#[test]
fn compaction_merges_the_write_buffer_into_the_new_file() {
    let dir = tmp();
    let path = dir.path().join("merge.db");
    let open = || OpenOptions::new().durability(Durability::Buffered).open(&path).unwrap();
    let store = open();
    let key = |i: u32| format!("k{i:05}").into_bytes();
    let mut model = std::collections::BTreeMap::new();
    let mut load = WriteBatch::new();
    for i in (0..3000).step_by(2) {
        let value = if i % 100 == 0 { vec![b'o'; 9000] } else { vec![b't'; 40] };
        load.put(key(i), &value);
        model.insert(key(i), value);
    }
    store.write(load).unwrap();
    store.checkpoint().unwrap();
    // Small commits: they wait in the write buffer.
    for i in 0..3100u32 {
        match i % 7 {
            0 | 3 => {
                store.delete(key(i)).unwrap();
                model.remove(&key(i));
            }
            1 | 4 | 5 => {
                store.put(key(i), [b'n'; 30]).unwrap();
                model.insert(key(i), vec![b'n'; 30]);
            }
            _ => {}
        }
    }
    store.compact().unwrap();
    let dump = |s: &KVStore| s.iter().map(Result::unwrap).collect::<std::collections::BTreeMap<_, _>>();
    assert_eq!(dump(&store), model);
    assert_eq!(store.len().unwrap(), model.len() as u64);
    assert!(store.check().unwrap().is_ok());
    let log = std::fs::metadata(path.with_file_name("merge.db.wal")).unwrap().len();
    assert!(log <= 64 << 10, "the log started over: {log} bytes");
    store.put(key(1), b"after").unwrap();
    model.insert(key(1), b"after".to_vec());
    store.delete(key(2)).unwrap();
    model.remove(&key(2));
    store.close().unwrap();
    let store = open();
    assert!(store.recovery_report().is_quiet(), "{:?}", store.recovery_report());
    assert_eq!(dump(&store), model);
    assert_eq!(store.len().unwrap(), model.len() as u64);
    assert!(store.check().unwrap().is_ok());
}

/// A batch too large for the write buffer is merged into the tree together with the buffer's
/// changes: where both change a key the batch (the later commit) wins, the buffer's other puts
/// and deletes land too, and the count follows, across a reopen.
#[test]
fn a_large_batch_lands_with_the_write_buffers_changes() {
    let dir = tmp();
    let path = dir.path().join("both.db");
    let open = || {
        OpenOptions::new().durability(Durability::Buffered).write_buffer_bytes(64 << 10).open(&path).unwrap()
    };
    let store = open();
    let key = |i: u32| format!("key{i:05}").into_bytes();
    let mut model = std::collections::BTreeMap::new();
    let mut load = WriteBatch::new();
    for i in (0..4000).step_by(2) {
        load.put(key(i), [b'l'; 50]);
        model.insert(key(i), vec![b'l'; 50]);
    }
    store.write(load).unwrap();
    store.checkpoint().unwrap();
    // Small commits, kept in the buffer: puts of new and loaded keys, deletes of loaded keys.
    for i in (0..4000).step_by(7) {
        if i % 3 == 0 {
            store.delete(key(i)).unwrap();
            model.remove(&key(i));
        } else {
            store.put(key(i), [b'b'; 20]).unwrap();
            model.insert(key(i), vec![b'b'; 20]);
        }
    }
    // One batch over half the buffer: overwrites and deletes some of the buffered keys.
    let mut batch = WriteBatch::new();
    for i in (0..4000).step_by(5) {
        if i % 35 == 0 {
            batch.delete(key(i));
            model.remove(&key(i));
        } else {
            batch.put(key(i), [b'n'; 60]);
            model.insert(key(i), vec![b'n'; 60]);
        }
    }
    store.write(batch).unwrap();
    let dump = |s: &KVStore| s.iter().map(Result::unwrap).collect::<std::collections::BTreeMap<_, _>>();
    assert_eq!(store.len().unwrap(), model.len() as u64);
    assert_eq!(dump(&store), model);
    assert!(store.check().unwrap().is_ok());
    drop(store);
    let store = open();
    assert_eq!(store.len().unwrap(), model.len() as u64);
    assert_eq!(dump(&store), model);
}
