//! The two Python list behaviours that Seaquest's entity updates depend on, reproduced
//! exactly (CPython's `Objects/listobject.c`).
//!
//! Seaquest walks its lists with `for e in reversed(lst)` and removes from them inside the
//! loop with `lst.remove(e)`. `remove` deletes the *first element equal* to `e` (lists compare
//! by value), which is not always `e` itself: when an earlier, not yet updated entity has the
//! same values, that one goes and `e` stays, one index lower. The reversed iterator then
//! reads index i − 1, which now holds `e` again, so `e` is updated twice in one frame, and the
//! earlier twin is never updated. Entities stacked on one cell (fish spawned in the same
//! row on consecutive frames at high difficulty) make this happen in real episodes.

/// Python's `list.remove(value)`: deletes the first element equal to `value` and returns its
/// index.
///
/// # Panics
/// If no element equals `value` (Python raises `ValueError`); callers remove an element that
/// they have just written into the list.
pub(super) fn remove_first_equal<T: PartialEq>(list: &mut Vec<T>, value: &T) -> usize {
    let j = list
        .iter()
        .position(|x| x == value)
        .expect("list.remove(x): x not in list");
    list.remove(j);
    j
}

/// Removes the entity currently at index `at` (holding `value`) as `list.remove` does and
/// returns where that entity is afterwards: `None` if it was the one deleted, else one index
/// lower (an earlier equal element was deleted instead).
pub(super) fn remove_current<T: PartialEq>(
    list: &mut Vec<T>,
    at: usize,
    value: &T,
) -> Option<usize> {
    let j = remove_first_equal(list, value);
    (j != at).then(|| at - 1)
}

/// CPython's `reversed(list)` iterator: it reads index `len - 1`, then one lower each time,
/// and stops for good once its index is outside the list (which may shrink meanwhile).
#[derive(Debug)]
pub(super) struct Reversed {
    next: isize,
}

impl Reversed {
    /// The iterator over a list of length `len`.
    pub(super) fn new(len: usize) -> Self {
        Self {
            next: len as isize - 1,
        }
    }

    /// The next index to read from a list now of length `len`, or `None` when done.
    pub(super) fn next(&mut self, len: usize) -> Option<usize> {
        if self.next >= 0 && (self.next as usize) < len {
            let i = self.next as usize;
            self.next -= 1;
            Some(i)
        } else {
            self.next = -1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // l = [[5], [7], [5]]; seen = []
    // for e in reversed(l):
    //     seen.append(e[0])
    //     if e[0] == 5 and len(seen) == 1: l.remove(e)
    // -> seen == [5, 5, 7], l == [[7], [5]]  (the twin at index 0 went; e was read twice)
    #[test]
    fn removing_an_element_with_an_earlier_twin_revisits_it() {
        let mut list = vec![5, 7, 5];
        let mut it = Reversed::new(list.len());
        let mut seen = Vec::new();
        while let Some(i) = it.next(list.len()) {
            seen.push(list[i]);
            if list[i] == 5 && seen.len() == 1 {
                // The twin at index 0 goes; the current element moves to index 1.
                assert_eq!(remove_current(&mut list, i, &5), Some(1));
            }
        }
        assert_eq!(seen, [5, 5, 7]);
        assert_eq!(list, [7, 5]);
    }

    // l = [[1], [2], [3], [4]]: removing the even ones while reading reversed(l) reads
    // [4, 3, 2, 1] and leaves [[1], [3]].
    #[test]
    fn removing_the_current_element_visits_every_other_once() {
        let mut list = vec![1, 2, 3, 4];
        let mut it = Reversed::new(list.len());
        let mut seen = Vec::new();
        while let Some(i) = it.next(list.len()) {
            seen.push(list[i]);
            if list[i] % 2 == 0 {
                let v = list[i];
                assert_eq!(remove_current(&mut list, i, &v), None);
            }
        }
        assert_eq!(seen, [4, 3, 2, 1]);
        assert_eq!(list, [1, 3]);
    }
}
