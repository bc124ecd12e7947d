//! Every file in `tests/ui/` must fail to compile with exactly its checked-in `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
