//! Random keys and values for the examples that measure: 24-byte keys and 150-byte values (the
//! shapes of `wind-compare`'s), from xorshift64*, the same sequence every run.

use wind_kvstore::{KVStore, Result, WriteBatch};

pub struct Pairs(u64);

impl Pairs {
    pub fn new() -> Pairs {
        Pairs(0x9E37_79B9_7F4A_7C15)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }

    /// The next key and value.
    pub fn next_pair(&mut self) -> ([u8; 24], [u8; 150]) {
        let mut key = [0u8; 24];
        self.fill(&mut key);
        let mut value = [0u8; 150];
        self.fill(&mut value);
        (key, value)
    }

    /// `n` pairs written in one batch, then checkpointed: a store whose keys are all in its tree.
    pub fn load(&mut self, store: &KVStore, n: u64) -> Result<()> {
        let mut load = WriteBatch::new();
        for _ in 0..n {
            let (k, v) = self.next_pair();
            load.put(k, v);
        }
        store.write(load)?;
        store.checkpoint()
    }
}
