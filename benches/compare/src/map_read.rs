//! `--map-read`: how fast a memory map hands out a file that is in the page cache, by the size
//! of the writes that put it there. 800 MiB are written in writes of each size (from the file's
//! start, or 4 KiB past it, as a chain of pages mostly starts), synced, mapped, and read back
//! as 400 values of 2 MiB two ways: compared in place with the bytes written (as LMDB's reads
//! let a caller do), and the way our large-value read goes (each 4 KiB page checksummed, its
//! bytes after a 16-byte header copied into one buffer, the buffer compared), each value's
//! mapping let go of after it is read. The page cache keeps one write's pages as folios of up
//! to the write's size, and the map is faster over large ones.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, ensure};

const TOTAL: usize = 800 << 20;
const VALUE: usize = 2 << 20;
const PAGE: usize = 4096;
const HEADER: usize = 16;

pub fn run(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("map-read.bin");
    let mut value = vec![0u8; VALUE];
    fastrand::Rng::with_seed(7).fill(&mut value);
    // What the copying read gathers from a value's pages: each page's bytes after its header.
    let data: Vec<u8> = value.chunks(PAGE).flat_map(|page| page[HEADER..].iter().copied()).collect();
    println!("| write size | start | compared in place | checked and copied |");
    println!("|---:|---:|---:|---:|");
    for write in [4 << 10, 128 << 10, 1 << 20, 2 << 20, 4 << 20] {
        for skew in [0, PAGE] {
            write_file(&path, &value, write, skew)?;
            let file = File::open(&path)?;
            // SAFETY: the file is this program's own, written above and not changed while mapped.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            let in_place = read(&map, skew, |bytes| bytes == &value[..]);
            let mut out = Vec::with_capacity(VALUE);
            let copied = read(&map, skew, |bytes| {
                out.clear();
                let mut sum = 0u32;
                for page in bytes.chunks(PAGE) {
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(&page[..4]);
                    crc.update(&page[8..]);
                    sum ^= crc.finalize();
                    out.extend_from_slice(&page[HEADER..]);
                }
                std::hint::black_box(sum);
                out == data
            });
            let (in_place, copied) = (in_place?, copied?);
            println!(
                "| {} KiB | {} | {:.1} ms | {:.1} ms |",
                write >> 10,
                if skew == 0 { "aligned" } else { "+4 KiB" },
                in_place * 1e3,
                copied * 1e3
            );
        }
    }
    std::fs::remove_file(&path)?;
    Ok(())
}

fn write_file(path: &Path, value: &[u8], write: usize, skew: usize) -> Result<()> {
    let mut file = File::create(path)?;
    file.write_all(&vec![0u8; skew])?;
    for _ in 0..TOTAL / VALUE {
        for piece in value.chunks(write) {
            file.write_all(piece)?;
        }
    }
    file.sync_all()?;
    Ok(())
}

/// Seconds to read every value through `f`, letting each one's mapping go after it.
fn read(map: &memmap2::Mmap, skew: usize, mut f: impl FnMut(&[u8]) -> bool) -> Result<f64> {
    let start = Instant::now();
    for i in 0..TOTAL / VALUE {
        let at = skew + i * VALUE;
        ensure!(f(&map[at..at + VALUE]), "value {i} did not read back");
        // SAFETY: a shared read-only file mapping; MADV_DONTNEED drops its page table entries
        // only, and nothing of it is borrowed past this point.
        unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at - at % PAGE, VALUE)? };
    }
    Ok(start.elapsed().as_secs_f64())
}
