//! `--demo`: a store with something of every kind to browse, built once in the user's data
//! directory from the files in `assets/demo/` (compiled in, so it works from any directory) and
//! from deterministic generators: JSON documents, text, binary values and keys, a value of
//! several MiB on overflow pages, and keys deleted again so the file has free pages.

use std::path::{Path, PathBuf};

use crate::{KVStore, OpenOptions, Result, WriteBatch};

const README: &str = include_str!("../../assets/demo/README.txt");
const CITIES: &str = include_str!("../../assets/demo/cities.tsv");
const NAMES: &str = include_str!("../../assets/demo/names.txt");
const NOTES: &str = include_str!("../../assets/demo/notes.txt");
const SETTINGS: &str = include_str!("../../assets/demo/settings.toml");

/// Users generated from the name list.
const USERS: usize = 200;
/// Size of the large value: big enough that only a preview is read, small enough to build fast.
const BIG_VALUE_BYTES: usize = 3 << 20;
/// Keys written and deleted again, so their pages are free.
const DELETED_KEYS: usize = 120;

/// The demo store's file name in the data directory.
pub(crate) const DEMO_FILE_NAME: &str = "demo.db";

/// `<data dir>/wind-kvstore/demo.db`.
pub(crate) fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "wind-kvstore").map(|d| d.data_dir().join(DEMO_FILE_NAME))
}

/// A small deterministic generator (64-bit LCG, high bits out): the same demo on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }

    /// An index below `len`.
    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(u32::try_from(len).unwrap_or(u32::MAX))).unwrap_or(0)
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim_end).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// `text` as a JSON string.
fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

fn slug(name: &str) -> String {
    name.to_ascii_lowercase().replace(' ', "-")
}

/// Every pair of the demo, deleted ones excluded.
pub(crate) fn pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut put = |k: String, v: Vec<u8>| out.push((k.into_bytes(), v));
    let mut rng = Lcg(0x5eed_2024);

    put("file:README.txt".into(), README.as_bytes().to_vec());
    put("file:settings.toml".into(), SETTINGS.as_bytes().to_vec());

    for line in lines(CITIES) {
        let f: Vec<&str> = line.split('\t').collect();
        if let [name, country, population, lat, lon, founded] = f[..] {
            let doc = format!(
                "{{\"name\":{},\"country\":{},\"population\":{},\"location\":{{\"lat\":{},\"lon\":{}}},\"founded\":{}}}",
                quote(name),
                quote(country),
                population.parse::<u64>().unwrap_or(0),
                lat.parse::<f64>().unwrap_or(0.0),
                lon.parse::<f64>().unwrap_or(0.0),
                founded.parse::<i64>().unwrap_or(0),
            );
            put(format!("city:{}", slug(name)), doc.into_bytes());
        }
    }

    let names: Vec<&str> = lines(NAMES).collect();
    let cities: Vec<&str> = lines(CITIES).filter_map(|l| l.split('\t').next()).collect();
    const TAGS: [&str; 8] = ["admin", "beta", "editor", "viewer", "billing", "support", "ops", "guest"];
    for i in 1..=USERS {
        let name = names[(i * 7) % names.len().max(1)];
        let city = cities[rng.index(cities.len())];
        let tags: Vec<&str> = (0..1 + rng.below(3)).map(|_| TAGS[rng.index(TAGS.len())]).collect();
        let tags: Vec<String> = tags.iter().map(|t| quote(t)).collect();
        let doc = format!(
            "{{\"id\":{i},\"name\":{},\"email\":{},\"age\":{},\"city\":{},\"active\":{},\"tags\":[{}],\
             \"settings\":{{\"theme\":{},\"notifications\":{}}},\"last_login\":null}}",
            quote(name),
            quote(&format!("{}.{i}@example.org", name.to_ascii_lowercase())),
            18 + rng.below(60),
            quote(city),
            rng.below(4) != 0,
            tags.join(","),
            quote(if rng.below(2) == 0 { "dark" } else { "light" }),
            rng.below(2) == 0,
        );
        put(format!("user:{i:04}"), doc.into_bytes());
    }

    for (i, note) in NOTES.split("\n\n").map(str::trim).filter(|n| !n.is_empty()).enumerate() {
        put(format!("note:{:03}", i + 1), note.as_bytes().to_vec());
    }

    // Binary values: little-endian f32 sensor samples, and image-like bytes behind a made-up header.
    for s in 0..20u32 {
        let mut v = Vec::with_capacity(4 * 64);
        for t in 0..64u32 {
            let x = (t as f32 / 8.0 + s as f32).sin() * 20.0 + 15.0;
            v.extend_from_slice(&x.to_le_bytes());
        }
        put(format!("blob:sensor:{s:02}"), v);
    }
    for s in 0..20u32 {
        let mut v = b"\x89IMG\r\n\x1a\n".to_vec();
        v.extend_from_slice(&(64u32 + s).to_be_bytes());
        v.extend((0..(200 + 37 * s)).map(|_| rng.next().to_le_bytes()[0]));
        put(format!("blob:thumb:{s:02}"), v);
    }

    for (k, v) in [("visits", "48213"), ("signups", "1207"), ("errors", "3"), ("deploys", "96")] {
        put(format!("counter:{k}"), v.as_bytes().to_vec());
    }

    // The large value: log lines, so its preview reads well as text.
    let mut big = Vec::with_capacity(BIG_VALUE_BYTES + 128);
    let mut n = 0u32;
    const PATHS: [&str; 6] = ["/", "/api/get", "/api/put", "/api/open", "/static/app.js", "/health"];
    while big.len() < BIG_VALUE_BYTES {
        n += 1;
        let line = format!(
            "2024-05-{:02}T{:02}:{:02}:{:02}Z {:>5} {} {} {}ms\n",
            1 + n / 86_400 % 28,
            n / 3600 % 24,
            n / 60 % 60,
            n % 60,
            n,
            ["GET", "POST"][rng.below(2) as usize],
            PATHS[rng.index(PATHS.len())],
            rng.below(250),
        );
        big.extend_from_slice(line.as_bytes());
    }
    out.push((b"big:access.log".to_vec(), big));

    // Keys that are not text.
    for i in 0..8u8 {
        let mut key = b"bin:".to_vec();
        key.extend_from_slice(&[0, i, 0xff - i, b'k']);
        out.push((key, vec![i; 12]));
    }
    out
}

/// Builds the demo store at `path` if it does not exist yet.
pub(crate) fn ensure(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Built under another name and renamed when whole: an interrupted build never leaves a
    // half demo behind under the real name.
    let building = path.with_file_name(format!("building-{DEMO_FILE_NAME}"));
    let log = crate::log_path(&building);
    for leftover in [&building, &log] {
        if leftover.exists() {
            std::fs::remove_file(leftover)?;
        }
    }
    let store: KVStore = OpenOptions::new().identifier("Demo").open(&building)?;
    let mut batch = WriteBatch::new();
    for (key, value) in pairs() {
        batch.put(key, value);
    }
    // Written, then deleted again: their pages become free pages.
    let padding = "x".repeat(600);
    for i in 0..DELETED_KEYS {
        batch.put(format!("tmp:session:{i:04}"), format!("{{\"session\": {i}, \"pad\": \"{padding}\"}}"));
    }
    batch.put("big:old-export", vec![b'#'; 1 << 20]);
    store.write(batch)?;
    store.checkpoint()?;
    let mut batch = WriteBatch::new();
    for i in 0..DELETED_KEYS {
        batch.delete(format!("tmp:session:{i:04}"));
    }
    batch.delete("big:old-export");
    store.write(batch)?;
    store.close()?;
    std::fs::rename(&building, path)?;
    if log.exists() {
        std::fs::remove_file(&log)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_has_every_kind_and_free_pages() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("demo.db");
        ensure(&path).expect("built");
        // A second call keeps the store as it is.
        ensure(&path).expect("kept");
        let store = OpenOptions::new().read_only(true).open(&path).expect("opens");
        assert_eq!(store.get_identifier(), "Demo");
        let n = store.len().expect("counts");
        assert!((200..=600).contains(&n), "{n} keys");
        assert_eq!(n, pairs().len() as u64);
        assert!(store.value_len("big:access.log").expect("read").unwrap_or(0) >= BIG_VALUE_BYTES as u64);
        let stats = store.stats();
        assert!(stats.overflow_pages > 0, "{stats:?}");
        assert!(stats.free_pages > 0, "{stats:?}");
        assert!(store.check().expect("check").is_ok());
        // Every JSON document parses.
        for (key, value) in pairs() {
            if key.starts_with(b"city:") || key.starts_with(b"user:") {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(&value).is_ok(),
                    "{}",
                    String::from_utf8_lossy(&value)
                );
            }
        }
        assert!(!dir.path().join("building-demo.db").exists());
    }

    #[test]
    fn the_demo_is_the_same_every_time() {
        assert_eq!(pairs(), pairs());
    }
}
