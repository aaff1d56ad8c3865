fn main() {
    std::process::exit(ensemble::cli::main());
}
