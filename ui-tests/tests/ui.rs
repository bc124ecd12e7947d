//! Every file in `tests/ui/` must fail to compile with exactly its checked-in `.stderr`; every file
//! in `tests/pass/` must compile and run (what the macros must accept).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
