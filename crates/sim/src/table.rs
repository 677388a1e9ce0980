//! A sharded generational table: the home of every handle the simulator issues.
//!
//! An id packs `generation << 32 | index << 4 | shard`. Generations start at 1, so no id is 0
//! (the NULL handle), and a freed slot's generation moves on, so a stale id is told apart from
//! the live one that reuses its slot. Sixteen independently locked shards keep worker threads
//! from queueing behind one lock.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
const MAX_INDEX: usize = (1 << (32 - SHARD_BITS)) - 1;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

struct Shard<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

pub(crate) struct Table<T> {
    shards: Box<[Mutex<Shard<T>>]>,
    next_shard: AtomicUsize,
    live: AtomicUsize,
}

fn split(id: u64) -> (usize, usize, u32) {
    let low = id as u32;
    ((low as usize) & (SHARDS - 1), (low >> SHARD_BITS) as usize, (id >> 32) as u32)
}

impl<T> Table<T> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard { slots: Vec::new(), free: Vec::new() })).collect(),
            next_shard: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
        }
    }

    /// Stores `value` unless `limit` live entries exist; returns its id.
    pub(crate) fn insert(&self, value: T, limit: usize) -> Option<u64> {
        if self.live.fetch_add(1, Ordering::AcqRel) >= limit {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let s = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut shard = self.shards[s].lock();
        let index = match shard.free.pop() {
            Some(i) => i as usize,
            None => {
                if shard.slots.len() > MAX_INDEX {
                    drop(shard);
                    self.live.fetch_sub(1, Ordering::AcqRel);
                    return None;
                }
                shard.slots.push(Slot { generation: 1, value: None });
                shard.slots.len() - 1
            }
        };
        let slot = &mut shard.slots[index];
        slot.value = Some(value);
        Some((u64::from(slot.generation) << 32) | ((index as u64) << SHARD_BITS) | s as u64)
    }

    /// Runs `f` on the live entry `id`, under its shard's lock; `None` if `id` is stale.
    #[inline]
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (s, index, generation) = split(id);
        let mut shard = self.shards[s].lock();
        let slot = shard.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.as_mut().map(f)
    }

    /// Removes the live entry `id`; `None` if it is stale.
    pub(crate) fn remove(&self, id: u64) -> Option<T> {
        let (s, index, generation) = split(id);
        let mut shard = self.shards[s].lock();
        let slot = shard.slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let value = slot.value.take()?;
        // Skip 0 on wrap so that no id is ever 0; a slot is retired rather than reused at the
        // last generation, so no id reaches u64::MAX either.
        slot.generation = slot.generation.wrapping_add(1).max(1);
        if slot.generation != u32::MAX {
            shard.free.push(index as u32);
        }
        drop(shard);
        self.live.fetch_sub(1, Ordering::AcqRel);
        Some(value)
    }

    /// True when `id` was issued by this table and has since been removed (its slot's
    /// generation has moved past it): a double free, told apart from a garbage id.
    pub(crate) fn was_issued(&self, id: u64) -> bool {
        let (s, index, generation) = split(id);
        let shard = self.shards[s].lock();
        generation >= 1 && shard.slots.get(index).is_some_and(|slot| generation < slot.generation)
    }

    /// Runs `f` on every live entry, one shard lock at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&T)) {
        for shard in self.shards.iter() {
            for slot in &shard.lock().slots {
                if let Some(v) = &slot.value {
                    f(v);
                }
            }
        }
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Bytes one slot takes, for the memory-per-context measurement.
    pub(crate) const fn slot_size() -> usize {
        std::mem::size_of::<Slot<T>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_are_rejected_after_reuse() {
        let t = Table::new();
        let a = t.insert("a", 10).unwrap();
        assert_ne!(a, 0);
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.remove(a), None, "double free is detected");
        assert!(t.was_issued(a), "a removed id is known as issued");
        assert!(!t.was_issued(a + (1 << 32)), "a future generation was never issued");
        // Fill every shard so the old slot is reused.
        let ids: Vec<u64> = (0..SHARDS * 2).map(|i| t.insert("b", 100).map(|id| (id, i)).unwrap().0).collect();
        assert!(ids.iter().all(|&id| id != a), "a reused slot has a new generation");
        assert_eq!(t.with(a, |_| ()), None);
        assert_eq!(t.live(), SHARDS * 2);
    }

    #[test]
    fn limit_is_enforced() {
        let t = Table::new();
        assert!(t.insert(1, 2).is_some());
        assert!(t.insert(2, 2).is_some());
        assert!(t.insert(3, 2).is_none());
        assert_eq!(t.live(), 2);
    }

    #[test]
    fn garbage_ids_never_panic() {
        let t: Table<u8> = Table::new();
        t.insert(1, 10).unwrap();
        for id in [0, 1, u64::MAX, 0xFFFF_FFFF, 2 << 32, (1 << 32) | 0xFFF0] {
            assert_eq!(t.with(id, |v| *v), None, "id {id:#x}");
            assert_eq!(t.remove(id), None);
            assert!(!t.was_issued(id), "id {id:#x}");
        }
    }
}
