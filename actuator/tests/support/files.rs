//! What a run left on disk, read back by the tests that check no secret reached it.

use std::path::Path;

/// Every file under `dir` (its subdirectories too), as `(path, text)`; bytes that are not UTF-8
/// are replaced, so a secret in a binary file is still found.
pub fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}
