//! Benchmarks for assembly.
fn main() {
    divan::main();
}
