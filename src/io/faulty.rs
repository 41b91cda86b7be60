//! A file system in memory that crashes, fails and fills up on command: the layer the crash
//! tests and the fuzzers put under the engine (feature `fault-injection`; never in a release
//! build of a program that does not ask for it).
//!
//! What it models, per file:
//! - the *durable* image (what the disk holds after the last successful sync of that file) and
//!   the writes and length changes since, in order (*pending*); reads see durable + pending;
//! - `sync_data` makes everything pending durable;
//! - a **crash** builds, per file, the image a power cut would leave: starting from the durable
//!   image, each pending write is kept, dropped, or torn (each 512-byte sector it covers is
//!   independently new, old or garbage; bytes outside the write are never touched, the
//!   "powersafe overwrite" assumption), each pending length change kept or dropped. The choice
//!   is made by a seed: seeds `≡ 0 (mod 4)` keep everything, `≡ 1` drop everything, others mix;
//! - a **failing sync** returns an error and, like Linux after a failed `fsync`, forgets which
//!   pages were dirty: a random part of the pending writes reaches the disk, the rest never will
//!   (a later sync does not write them), though reads still see them until the next crash.
//!
//! And for the directory (one namespace; `sync_dir` covers every path): creations, renames and
//! removals take effect at once for the running process, but only `sync_dir` makes them durable.
//! A crash keeps a random *prefix* of the directory operations since the last `sync_dir`
//! (journaled file systems commit metadata in order).
//!
//! After a crash every handle and every call on the [`FaultyVfs`] fails until
//! [`FaultyVfs::restart`], which plays the reboot: new handles see the crash image.
//!
//! Other faults: the n-th sync can fail (`fail_sync_at`), the n-th mutating call of any kind can
//! fail with `EIO` (`fail_io_at`, the countdown the model fuzzer uses), and a capacity makes
//! writes and length changes that would grow the files past it fail with `ENOSPC`.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{FileIo, Vfs};

/// Sector size for torn writes: the unit a disk writes atomically at best.
pub const SECTOR_BYTES: u64 = 512;

/// `ENOSPC` on Linux and the BSDs.
const ENOSPC: i32 = 28;
/// `EIO`.
const EIO: i32 = 5;

/// Which faults to inject; all off by default.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Crash instead of performing the n-th sync (1-based, counting file and directory syncs).
    pub crash_at_sync: Option<u64>,
    /// The n-th sync fails with `EIO` (and loses a random part of the pending writes).
    pub fail_sync_at: Option<u64>,
    /// The n-th mutating call (write, set_len, sync, create, rename, remove) fails with `EIO`.
    pub fail_io_at: Option<u64>,
    /// Writes and growth that would make the files together larger than this fail with `ENOSPC`.
    pub capacity_bytes: Option<u64>,
    /// Chooses what a crash or a failing sync keeps.
    pub seed: u64,
    /// Each file sync takes this long (without holding up other calls), so concurrent writers
    /// really overlap a sync, as they do on a disk.
    pub sync_latency: Option<std::time::Duration>,
}

/// A tiny deterministic generator (SplitMix64): crash images depend on the seed only.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence depends on `seed` only.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next number, uniform over all of `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Fill `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64().to_le_bytes()[0];
        }
    }
}

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<Pending>,
    /// Handle id holding the write lock.
    lock: Option<u64>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(PathBuf, u64),
    Unlink(PathBuf),
    Rename(PathBuf, PathBuf),
}

#[derive(Debug, Default, Clone)]
struct World {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    next_handle: u64,
    dir: BTreeMap<PathBuf, u64>,
    durable_dir: BTreeMap<PathBuf, u64>,
    dir_ops: Vec<DirOp>,
    /// Bumped by every restart: handles of an older generation are dead.
    generation: u64,
    crashed: bool,
    syncs: u64,
    io_calls: u64,
    crashes: u64,
    plan: FaultPlan,
}

/// The error the operating system would give.
fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: this process no longer exists")
}

/// An offset or length of an in-memory file as an index: the files live in memory, so it fits.
fn mem_index(n: u64) -> usize {
    usize::try_from(n).expect("an in-memory file fits in memory")
}

fn write_into(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = mem_index(offset);
    let end = start + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(bytes);
}

/// `durable` with each of `pending` kept, dropped or torn as `rng` decides.
fn replay(durable: &[u8], pending: &[Pending], rng: &mut Rng, mode: u64) -> Vec<u8> {
    let mut image = durable.to_vec();
    for p in pending {
        // 0: keep all, 1: drop all, else per write.
        let choice = match mode {
            0 => 0,
            1 => 1,
            _ => rng.below(3),
        };
        match p {
            Pending::SetLen(len) => {
                if choice != 1 && (mode == 0 || rng.below(2) == 0) {
                    image.resize(mem_index(*len), 0);
                }
            }
            Pending::Write(offset, data) => match choice {
                0 => write_into(&mut image, *offset, data),
                1 => {}
                _ => {
                    let end = offset + data.len() as u64;
                    let mut pos = *offset;
                    while pos < end {
                        let sector_end = ((pos / SECTOR_BYTES) + 1) * SECTOR_BYTES;
                        let to = sector_end.min(end);
                        let part = &data[mem_index(pos - offset)..mem_index(to - offset)];
                        match rng.below(3) {
                            0 => write_into(&mut image, pos, part),
                            1 => {}
                            _ => {
                                let mut garbage = vec![0u8; part.len()];
                                rng.fill(&mut garbage);
                                write_into(&mut image, pos, &garbage);
                            }
                        }
                        pos = to;
                    }
                }
            },
        }
    }
    image
}

fn apply_dir_op(dir: &mut BTreeMap<PathBuf, u64>, op: &DirOp) {
    match op {
        DirOp::Link(p, ino) => {
            dir.insert(p.clone(), *ino);
        }
        DirOp::Unlink(p) => {
            dir.remove(p);
        }
        DirOp::Rename(from, to) => {
            if let Some(ino) = dir.remove(from) {
                dir.insert(to.clone(), ino);
            }
        }
    }
}

impl World {
    fn alive(&self) -> io::Result<()> {
        if self.crashed { Err(crashed_error()) } else { Ok(()) }
    }

    /// Count a mutating call; `Err` when the countdown says this one fails.
    fn io_call(&mut self) -> io::Result<()> {
        self.alive()?;
        self.io_calls += 1;
        if self.plan.fail_io_at == Some(self.io_calls) {
            return Err(os_error(EIO));
        }
        Ok(())
    }

    fn total_bytes(&self) -> u64 {
        self.dir.values().filter_map(|i| self.inodes.get(i)).map(|i| i.current.len() as u64).sum()
    }

    fn check_space(&self, ino: u64, new_len: u64) -> io::Result<()> {
        let Some(capacity) = self.plan.capacity_bytes else { return Ok(()) };
        let old_len = self.inodes.get(&ino).map_or(0, |i| i.current.len() as u64);
        if new_len > old_len && self.total_bytes() + (new_len - old_len) > capacity {
            return Err(os_error(ENOSPC));
        }
        Ok(())
    }

    fn seed_mode(seed: u64) -> u64 {
        match seed % 4 {
            0 => 0,
            1 => 1,
            _ => 2,
        }
    }

    /// Power cut: every file and the directory become what the disk would hold.
    /// `seed == None`: the process died but the machine did not, so everything written stays.
    fn crash(&mut self, seed: Option<u64>) {
        let mut rng = Rng::new(seed.unwrap_or(0));
        let mode = seed.map_or(0, World::seed_mode);
        let mut ids: Vec<u64> = self.inodes.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let inode = self.inodes.get_mut(&id).expect("listed");
            let image = replay(&inode.durable, &inode.pending, &mut rng, mode);
            inode.durable = image.clone();
            inode.current = image;
            inode.pending.clear();
            inode.lock = None;
        }
        let keep = match mode {
            0 => self.dir_ops.len(),
            1 => 0,
            _ => mem_index(rng.below(self.dir_ops.len() as u64 + 1)),
        };
        let mut dir = self.durable_dir.clone();
        for op in &self.dir_ops[..keep] {
            apply_dir_op(&mut dir, op);
        }
        self.dir_ops.clear();
        self.durable_dir = dir.clone();
        self.dir = dir;
        let live: std::collections::HashSet<u64> = self.dir.values().copied().collect();
        self.inodes.retain(|id, _| live.contains(id));
        self.crashed = true;
        self.crashes += 1;
    }

    /// A sync call: counts it, and crashes or fails it as planned.
    fn sync_call(&mut self) -> io::Result<SyncOutcome> {
        self.alive()?;
        self.syncs += 1;
        self.io_calls += 1;
        if self.plan.crash_at_sync == Some(self.syncs) {
            self.crash(Some(self.plan.seed));
            return Err(crashed_error());
        }
        if self.plan.fail_sync_at == Some(self.syncs) || self.plan.fail_io_at == Some(self.io_calls) {
            return Ok(SyncOutcome::Fail(os_error(EIO)));
        }
        Ok(SyncOutcome::Sync)
    }
}

enum SyncOutcome {
    Sync,
    Fail(io::Error),
}

/// The in-memory, fault-injecting file system. Clones share one world.
#[derive(Clone, Default)]
pub struct FaultyVfs {
    world: Arc<Mutex<World>>,
}

impl std::fmt::Debug for FaultyVfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.lock();
        f.debug_struct("FaultyVfs")
            .field("files", &w.dir.keys().collect::<Vec<_>>())
            .field("syncs", &w.syncs)
            .field("crashed", &w.crashed)
            .finish_non_exhaustive()
    }
}

impl FaultyVfs {
    /// An empty file system with no fault planned.
    pub fn new() -> FaultyVfs {
        FaultyVfs::default()
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace the fault plan (the counters keep running).
    pub fn set_plan(&self, plan: FaultPlan) {
        self.lock().plan = plan;
    }

    /// The fault plan in force.
    pub fn plan(&self) -> FaultPlan {
        self.lock().plan.clone()
    }

    /// Crash instead of performing sync number `n` from now on (1 = the next one).
    pub fn crash_at_sync(&self, n: u64, seed: u64) {
        let mut w = self.lock();
        w.plan.crash_at_sync = Some(w.syncs + n);
        w.plan.seed = seed;
    }

    /// Fail sync number `n` from now on (1 = the next one).
    pub fn fail_sync_at(&self, n: u64, seed: u64) {
        let mut w = self.lock();
        w.plan.fail_sync_at = Some(w.syncs + n);
        w.plan.seed = seed;
    }

    /// Fail mutating call number `n` from now on (1 = the next one) with `EIO`.
    pub fn fail_io_at(&self, n: u64) {
        let mut w = self.lock();
        w.plan.fail_io_at = Some(w.io_calls + n);
    }

    /// Limit the bytes all files may hold together (`None`: unlimited).
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().plan.capacity_bytes = bytes;
    }

    /// Make every file sync take `latency` (see [`FaultPlan::sync_latency`]).
    pub fn set_sync_latency(&self, latency: Option<std::time::Duration>) {
        self.lock().plan.sync_latency = latency;
    }

    /// Turn every fault off, capacity and sync latency included (the counters keep running).
    pub fn clear_faults(&self) {
        self.lock().plan = FaultPlan::default();
    }

    /// Syncs (file and directory) so far, including failed ones.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Mutating calls so far.
    pub fn io_calls(&self) -> u64 {
        self.lock().io_calls
    }

    /// Whether a crash happened that [`FaultyVfs::restart`] has not yet followed: until then every
    /// call fails.
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Crashes so far.
    pub fn crashes(&self) -> u64 {
        self.lock().crashes
    }

    /// Bytes held by all files.
    pub fn total_bytes(&self) -> u64 {
        self.lock().total_bytes()
    }

    /// Crash now: `Some(seed)` cuts the power (unsynced writes kept, dropped or torn by the
    /// seed); `None` kills only the process (everything written survives).
    pub fn crash_now(&self, seed: Option<u64>) {
        let mut w = self.lock();
        if !w.crashed {
            w.crash(seed);
        }
    }

    /// Reboot after a crash: handles opened before are dead, faults are cleared, and new
    /// handles see the crash image. Without a crash, it is a process restart.
    pub fn restart(&self) {
        let mut w = self.lock();
        if !w.crashed {
            w.crash(None);
        }
        w.crashed = false;
        w.generation += 1;
        w.plan = FaultPlan::default();
    }

    /// An independent copy of this world as a reboot would find it (crash image or current
    /// contents), to try many things on the same starting point.
    pub fn fork(&self) -> FaultyVfs {
        let mut w = self.lock().clone();
        if !w.crashed {
            w.crash(None);
        }
        w.crashed = false;
        w.generation += 1;
        w.plan = FaultPlan::default();
        w.syncs = 0;
        w.io_calls = 0;
        FaultyVfs { world: Arc::new(Mutex::new(w)) }
    }

    /// The current contents of the file at `path`.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let w = self.lock();
        let ino = w.dir.get(path)?;
        w.inodes.get(ino).map(|i| i.current.clone())
    }

    /// Put `bytes` at `path`, durably (creating the file, or replacing its contents in place).
    pub fn write_file(&self, path: &Path, bytes: &[u8]) {
        let mut w = self.lock();
        let ino = match w.dir.get(path) {
            Some(i) => *i,
            None => {
                w.next_inode += 1;
                let ino = w.next_inode;
                w.dir.insert(path.to_owned(), ino);
                w.durable_dir.insert(path.to_owned(), ino);
                ino
            }
        };
        let inode = w.inodes.entry(ino).or_default();
        inode.durable = bytes.to_vec();
        inode.current = bytes.to_vec();
        inode.pending.clear();
    }

    /// Remove `path` durably.
    pub fn remove_file(&self, path: &Path) {
        let mut w = self.lock();
        if let Some(ino) = w.dir.remove(path) {
            w.durable_dir.remove(path);
            w.inodes.remove(&ino);
        }
    }

    /// Every path, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().dir.keys().cloned().collect()
    }

    fn handle(&self, ino: u64, writable: bool, w: &mut World) -> Arc<dyn FileIo> {
        w.next_handle += 1;
        Arc::new(FaultyFile {
            world: self.world.clone(),
            ino,
            id: w.next_handle,
            generation: w.generation,
            writable,
        })
    }

    fn link_new(w: &mut World, path: &Path) -> u64 {
        w.next_inode += 1;
        let ino = w.next_inode;
        w.inodes.insert(ino, Inode::default());
        w.dir.insert(path.to_owned(), ino);
        w.dir_ops.push(DirOp::Link(path.to_owned(), ino));
        ino
    }
}

impl Vfs for FaultyVfs {
    fn open(&self, path: &Path, writable: bool) -> io::Result<Arc<dyn FileIo>> {
        let mut w = self.lock();
        w.alive()?;
        let Some(&ino) = w.dir.get(path) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file", path.display())));
        };
        Ok(self.handle(ino, writable, &mut w))
    }

    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let mut w = self.lock();
        w.io_call()?;
        let ino = match w.dir.get(path) {
            Some(&ino) => {
                let inode = w.inodes.get_mut(&ino).expect("linked inode exists");
                inode.current.clear();
                inode.pending.push(Pending::SetLen(0));
                ino
            }
            None => FaultyVfs::link_new(&mut w, path),
        };
        Ok(self.handle(ino, true, &mut w))
    }

    fn open_or_create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let mut w = self.lock();
        w.alive()?;
        let ino = match w.dir.get(path) {
            Some(&ino) => ino,
            None => {
                w.io_call()?;
                FaultyVfs::link_new(&mut w, path)
            }
        };
        Ok(self.handle(ino, true, &mut w))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let w = self.lock();
        w.alive()?;
        Ok(w.dir.contains_key(path))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut w = self.lock();
        w.io_call()?;
        if w.dir.remove(path).is_none() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file", path.display())));
        }
        w.dir_ops.push(DirOp::Unlink(path.to_owned()));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut w = self.lock();
        w.io_call()?;
        let Some(ino) = w.dir.remove(from) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file", from.display())));
        };
        w.dir.insert(to.to_owned(), ino);
        w.dir_ops.push(DirOp::Rename(from.to_owned(), to.to_owned()));
        Ok(())
    }

    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        let mut w = self.lock();
        match w.sync_call()? {
            SyncOutcome::Sync => {
                w.durable_dir = w.dir.clone();
                w.dir_ops.clear();
                Ok(())
            }
            SyncOutcome::Fail(e) => {
                // Some of the operations may have reached the disk; none is promised.
                let seed = w.plan.seed;
                let mut rng = Rng::new(seed);
                let keep = mem_index(rng.below(w.dir_ops.len() as u64 + 1));
                let mut dir = w.durable_dir.clone();
                for op in &w.dir_ops[..keep] {
                    apply_dir_op(&mut dir, op);
                }
                w.durable_dir = dir;
                w.dir_ops.clear();
                Err(e)
            }
        }
    }
}

/// One open file of a [`FaultyVfs`].
struct FaultyFile {
    world: Arc<Mutex<World>>,
    ino: u64,
    id: u64,
    generation: u64,
    writable: bool,
}

impl FaultyFile {
    fn world(&self) -> io::Result<MutexGuard<'_, World>> {
        let w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        if w.crashed || w.generation != self.generation {
            return Err(crashed_error());
        }
        Ok(w)
    }

    fn writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::PermissionDenied, "file opened read-only"))
        }
    }
}

fn inode(w: &mut World, ino: u64) -> &mut Inode {
    w.inodes.entry(ino).or_default()
}

impl FileIo for FaultyFile {
    fn len(&self) -> io::Result<u64> {
        let mut w = self.world()?;
        Ok(inode(&mut w, self.ino).current.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut w = self.world()?;
        let data = &inode(&mut w, self.ino).current;
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        match start.checked_add(buf.len()).and_then(|end| data.get(start..end)) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file")),
        }
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.writable()?;
        let mut w = self.world()?;
        w.io_call()?;
        w.check_space(self.ino, offset + buf.len() as u64)?;
        let inode = inode(&mut w, self.ino);
        write_into(&mut inode.current, offset, buf);
        inode.pending.push(Pending::Write(offset, buf.to_vec()));
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut w = self.world()?;
        w.io_call()?;
        w.check_space(self.ino, len)?;
        let inode = inode(&mut w, self.ino);
        inode.current.resize(mem_index(len), 0);
        inode.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let latency = self.world()?.plan.sync_latency;
        if let Some(latency) = latency {
            std::thread::sleep(latency);
        }
        let mut w = self.world()?;
        match w.sync_call()? {
            SyncOutcome::Sync => {
                // Only what is pending reaches the disk: writes a failed sync forgot stay
                // visible to reads but are never written (they are no longer dirty).
                let inode = inode(&mut w, self.ino);
                let mut rng = Rng::new(0);
                inode.durable = replay(&inode.durable, &inode.pending, &mut rng, 0);
                inode.pending.clear();
                Ok(())
            }
            SyncOutcome::Fail(e) => {
                // Linux after a failed fsync: the dirty pages are marked clean whether or not
                // they were written, so some reach the disk and the rest never will.
                let mut rng = Rng::new(w.plan.seed ^ w.syncs);
                let inode = inode(&mut w, self.ino);
                inode.durable = replay(&inode.durable, &inode.pending, &mut rng, 2);
                inode.pending.clear();
                Err(e)
            }
        }
    }

    fn try_lock(&self) -> io::Result<bool> {
        let mut w = self.world()?;
        let id = self.id;
        let inode = inode(&mut w, self.ino);
        match inode.lock {
            Some(owner) if owner != id => Ok(false),
            _ => {
                inode.lock = Some(id);
                Ok(true)
            }
        }
    }
}

impl Drop for FaultyFile {
    fn drop(&mut self) {
        let mut w = self.world.lock().unwrap_or_else(|e| e.into_inner());
        if w.generation == self.generation
            && let Some(inode) = w.inodes.get_mut(&self.ino)
            && inode.lock == Some(self.id)
        {
            inode.lock = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn synced_writes_survive_every_crash() {
        for seed in 0..40 {
            let vfs = FaultyVfs::new();
            let f = vfs.create(&p("a")).unwrap();
            f.write_all_at(b"hello", 0).unwrap();
            f.sync_data().unwrap();
            vfs.sync_dir(&p("a")).unwrap();
            f.write_all_at(b"world", 5).unwrap();
            vfs.crash_now(Some(seed));
            assert!(f.len().is_err(), "a handle from before the crash is dead");
            vfs.restart();
            let data = vfs.read_file(&p("a")).unwrap();
            assert_eq!(&data[..5], b"hello");
            assert!(data.len() == 5 || data.len() == 10, "{data:?}");
        }
    }

    #[test]
    fn seeds_keep_drop_and_tear() {
        let image = |seed| {
            let vfs = FaultyVfs::new();
            let f = vfs.create(&p("a")).unwrap();
            vfs.sync_dir(&p("a")).unwrap();
            f.write_all_at(&[7u8; 2048], 0).unwrap();
            vfs.crash_now(Some(seed));
            vfs.restart();
            vfs.read_file(&p("a")).unwrap()
        };
        assert_eq!(image(0), vec![7u8; 2048], "seed 0 mod 4 keeps");
        assert!(image(1).is_empty(), "seed 1 mod 4 drops");
        let torn = (2..200).map(image).any(|i| i.len() == 2048 && i != vec![7u8; 2048]);
        assert!(torn, "some seed tears the write");
    }

    #[test]
    fn torn_writes_touch_only_their_own_bytes() {
        for seed in 2..100 {
            let vfs = FaultyVfs::new();
            let f = vfs.create(&p("a")).unwrap();
            f.write_all_at(&[1u8; 1024], 0).unwrap();
            f.sync_data().unwrap();
            vfs.sync_dir(&p("a")).unwrap();
            f.write_all_at(&[2u8; 256], 768).unwrap();
            vfs.crash_now(Some(seed));
            vfs.restart();
            let data = vfs.read_file(&p("a")).unwrap();
            assert_eq!(&data[..768], &[1u8; 768][..]);
        }
    }

    #[test]
    fn unsynced_renames_may_be_lost_and_synced_ones_are_not() {
        let mut lost = 0;
        for seed in 0..20 {
            let vfs = FaultyVfs::new();
            let f = vfs.create(&p("tmp")).unwrap();
            f.write_all_at(b"x", 0).unwrap();
            f.sync_data().unwrap();
            vfs.rename(&p("tmp"), &p("db")).unwrap();
            vfs.crash_now(Some(seed));
            vfs.restart();
            if !vfs.exists(&p("db")).unwrap() {
                lost += 1;
            }
        }
        assert!(lost > 0);
        let vfs = FaultyVfs::new();
        vfs.create(&p("tmp")).unwrap();
        vfs.rename(&p("tmp"), &p("db")).unwrap();
        vfs.sync_dir(&p("db")).unwrap();
        vfs.crash_now(Some(1));
        vfs.restart();
        assert!(vfs.exists(&p("db")).unwrap());
    }

    #[test]
    fn crash_at_sync_and_failing_sync() {
        let vfs = FaultyVfs::new();
        let f = vfs.create(&p("a")).unwrap();
        vfs.crash_at_sync(2, 1);
        f.sync_data().unwrap();
        assert!(f.sync_data().is_err());
        assert!(vfs.crashed());
        vfs.restart();
        let f = vfs.create(&p("b")).unwrap();
        vfs.fail_sync_at(1, 3);
        assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(EIO));
        assert!(f.sync_data().is_ok(), "only the planned sync fails");
    }

    #[test]
    fn a_failed_sync_loses_writes_for_good() {
        let lost = (0..40).any(|seed| {
            let vfs = FaultyVfs::new();
            let f = vfs.create(&p("a")).unwrap();
            vfs.sync_dir(&p("a")).unwrap();
            f.write_all_at(&[1u8; 4096], 0).unwrap();
            vfs.fail_sync_at(1, seed);
            assert!(f.sync_data().is_err());
            assert_eq!(vfs.read_file(&p("a")).unwrap(), vec![1u8; 4096], "reads still see the writes");
            f.sync_data().unwrap();
            vfs.crash_now(Some(0));
            vfs.restart();
            vfs.read_file(&p("a")).unwrap() != vec![1u8; 4096]
        });
        assert!(lost, "a later successful sync must not write what the failed one forgot");
    }

    #[test]
    fn capacity_gives_enospc_and_lock_is_exclusive() {
        let vfs = FaultyVfs::new();
        let f = vfs.create(&p("a")).unwrap();
        vfs.set_capacity(Some(100));
        f.write_all_at(&[0; 100], 0).unwrap();
        let e = f.write_all_at(&[0; 1], 100).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(f.set_len(101).is_err());
        f.write_all_at(&[1; 10], 0).unwrap();
        assert!(f.try_lock().unwrap());
        let g = vfs.open(&p("a"), true).unwrap();
        assert!(!g.try_lock().unwrap());
        drop(f);
        assert!(g.try_lock().unwrap(), "the lock goes with the handle");
    }
}
