//! Work split across the machine's cores, for serial passes over thousands of independent items
//! that would otherwise leave the other cores waiting: a plan reading its recorded entries, a large
//! plan freed while the run reports.
//! (Serializing a large journal batch or a snapshot in parts was measured too, and was slower:
//! each part is a fresh buffer, faulted in page by page, where one reused buffer streams.)

/// `f` of each chunk of `items`, one chunk per core, results in the items' order; a single chunk
/// (on this thread) below `min` items or on one core.
fn per_core<T: Sync, U: Send>(items: &[T], min: usize, f: impl Fn(&[T]) -> U + Sync) -> Vec<U> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores < 2 || items.len() < min.max(2) {
        return vec![f(items)];
    }
    let chunk = items.len().div_ceil(cores);
    std::thread::scope(|s| {
        let f = &f;
        let rest: Vec<_> = items
            .chunks(chunk)
            .skip(1)
            .map(|c| s.spawn(move || f(c)))
            .collect();
        let mut out = Vec::with_capacity(rest.len() + 1);
        out.push(f(&items[..chunk]));
        out.extend(
            rest.into_iter()
                .map(|t| t.join().expect("a worker thread panicked")),
        );
        out
    })
}

/// `f` of each item, in order, computed [`per_core`]: each core's results taken from its own
/// list, not copied into one (megabytes of fresh memory to fault in, for a large plan's records).
pub(crate) fn map<T: Sync, U: Send>(
    items: &[T],
    min: usize,
    f: impl Fn(&T) -> U + Sync,
) -> std::iter::Flatten<std::vec::IntoIter<Vec<U>>> {
    per_core(items, min, |c| c.iter().map(&f).collect::<Vec<U>>())
        .into_iter()
        .flatten()
}

/// Drops `value` on a thread of its own, so the caller need not wait for its frees (a plan of
/// 20,000 resources is milliseconds of them); on this thread if no thread can be started.
pub(crate) fn drop_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("actuator-drop".into())
        .spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_at_any_size() {
        for n in [0, 1, 99, 100, 3 * 100 + 7] {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(
                map(&items, 100, |i| i * 2).collect::<Vec<_>>(),
                items.iter().map(|i| i * 2).collect::<Vec<_>>(),
                "{n} items"
            );
            let sums = per_core(&items, 100, |c| c.iter().sum::<usize>());
            assert_eq!(sums.iter().sum::<usize>(), items.iter().sum::<usize>());
            assert_eq!(
                sums.len() > 1,
                n >= 100 && std::thread::available_parallelism().unwrap().get() > 1
            );
        }
    }

    #[test]
    fn a_value_dropped_in_the_background_is_dropped() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        drop_in_background(tx);
        // Disconnected (not a timeout) once the other thread has dropped the only sender.
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
